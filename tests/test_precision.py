"""Mixed precision: float32 wherever there is no CUDA GPU, autocast on one, a clear error for a wrong choice."""

import pytest
import torch

from xmllib.config import ConfigError
from xmllib.precision import autocast, autocast_dtype, grad_scaler

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_auto_and_float32_run_the_cpu_in_float32():
    assert autocast_dtype("auto", CPU) is None and autocast_dtype("float32", CPU) is None
    assert autocast_dtype("float32", CUDA) is None and autocast_dtype("float16", CUDA) == torch.float16
    with autocast("auto", CPU):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    assert not grad_scaler("auto", CPU).is_enabled()


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_a_half_precision_on_the_cpu_is_refused_with_what_to_use(precision):
    with pytest.raises(ValueError, match=f"precision '{precision}' needs a CUDA GPU, but the device is cpu; use auto"):
        autocast_dtype(precision, CPU)


def test_an_unknown_precision_is_refused_by_the_configuration(tiny_config):
    with pytest.raises(ConfigError, match="unknown precision 'half'; choose one of auto, float32, bfloat16"):
        tiny_config.replace(precision="half")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (runs where one exists)")
def test_training_on_a_cuda_gpu_runs_its_forward_passes_in_half_precision(tiny_index, tiny_config):
    from xmllib.assembly import loaders_from_config, model_from_config
    from xmllib.training import train

    model = model_from_config(tiny_config, 2).cuda().to(memory_format=torch.channels_last)
    with autocast("auto", CUDA):
        logits, _ = model(torch.rand(2, 3, 32, 32, device="cuda"))
    assert logits.dtype in (torch.bfloat16, torch.float16)
    history = train(model, tiny_config.replace(device="cuda"), loaders_from_config(tiny_index, tiny_config),
                    class_names=["no_triangle", "triangle"])
    assert history[["train_loss", "val_loss"]].notna().all().all() and len(history) == 3
