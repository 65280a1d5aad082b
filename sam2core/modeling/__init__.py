"""The components of SAM 2, one module each, and the composed SAM2Model."""
