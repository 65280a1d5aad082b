"""Training on several processes (`torchrun --nproc_per_node N -m sam2core.train ...`): data
parallel, each rank drawing its own batches (seed + rank) from weights broadcast by rank 0, the
gradients averaged over the ranks before every optimiser step (gloo on CPU, NCCL on GPU).

The trainer calls the model's methods (encoder, decoder, memory) rather than one forward(), so
the averaging is an optimiser step pre-hook instead of DistributedDataParallel's backward
hooks: the same update (each rank's gradients are clipped before they are averaged).
"""

import os

import torch
import torch.distributed as dist

from sam2core.train.trainer import Trainer


def world_size() -> int:
    """Processes of a torchrun launch (1 when not launched by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def start(device: str) -> int:
    """Join the process group of a torchrun launch; this process's rank."""
    dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    return dist.get_rank()


def stop() -> None:
    """Leave the process group."""
    dist.destroy_process_group()


def synchronise(trainer: Trainer) -> None:
    """Give every rank rank 0's weights, and average gradients over the ranks at each step."""
    with torch.no_grad():
        for tensor in trainer.model.state_dict().values():
            dist.broadcast(tensor, src=0)
    parameters = [p for p in trainer.model.parameters() if p.requires_grad]

    def average_gradients(optimizer, args, kwargs) -> None:
        for parameter in parameters:
            if parameter.grad is None:  # unused on this rank this step: it still takes part
                parameter.grad = torch.zeros_like(parameter)
            dist.all_reduce(parameter.grad)
            parameter.grad /= dist.get_world_size()

    trainer.optimizer.register_step_pre_hook(average_gradients)
