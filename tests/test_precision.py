"""Mixed precision: float32 wherever there is no CUDA GPU, autocast on one, a clear error for a wrong choice.
The memory layout: channels-last where asked (auto: on CUDA), the same model's outputs either way."""

import pytest
import torch

from xmllib.assembly import model_from_config, place_model
from xmllib.config import ConfigError
from xmllib.precision import autocast, autocast_dtype, grad_scaler, memory_format

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


def test_auto_memory_format_is_channels_last_on_cuda_only_and_asked_for_anywhere():
    assert memory_format("auto", CUDA) == torch.channels_last and memory_format("auto", CPU) == torch.contiguous_format
    assert memory_format("channels_last", CPU) == torch.channels_last
    assert memory_format("contiguous", CUDA) == torch.contiguous_format


def test_an_unknown_memory_format_is_refused_by_the_configuration(tiny_config):
    with pytest.raises(ConfigError, match="unknown memory_format 'nhwc'; choose one of auto, channels_last, contig"):
        tiny_config.replace(memory_format="nhwc")


def test_a_channels_last_model_gives_the_contiguous_models_outputs_and_gradients(tiny_config):
    torch.manual_seed(0)
    reference = model_from_config(tiny_config.replace(device="cpu"), 2)
    placed = place_model(model_from_config(tiny_config.replace(device="cpu"), 2),
                         tiny_config.replace(device="cpu", memory_format="channels_last"))
    placed.load_state_dict(reference.state_dict())
    conv_weights = [p for p in placed.parameters() if p.dim() == 4]
    assert conv_weights and all(p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
                                for p in conv_weights if p.shape[-1] > 1)
    images = torch.rand(4, 3, 32, 32)
    outputs = [model(images) for model in (reference, placed)]
    for expected, actual in zip(*outputs):
        torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)
    for logits, heatmap in outputs:
        (logits.sum() + heatmap.mean()).backward()
    for (name, expected), actual in zip(reference.named_parameters(), placed.parameters()):
        torch.testing.assert_close(actual.grad, expected.grad, rtol=1e-3, atol=1e-5, msg=name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (runs where one exists)")
def test_training_on_a_cuda_gpu_runs_its_forward_passes_in_half_precision(tiny_index, tiny_config):
    from xmllib.assembly import loaders_from_config
    from xmllib.training import train

    model = place_model(model_from_config(tiny_config, 2), tiny_config.replace(device="cuda"))
    assert model.explainer.enc1[0].weight.is_contiguous(memory_format=torch.channels_last)
    with autocast("auto", CUDA):
        logits, _ = model(torch.rand(2, 3, 32, 32, device="cuda"))
    assert logits.dtype in (torch.bfloat16, torch.float16)
    history = train(model, tiny_config.replace(device="cuda"), loaders_from_config(tiny_index, tiny_config),
                    class_names=["no_triangle", "triangle"])
    assert history[["train_loss", "val_loss"]].notna().all().all() and len(history) == 3
