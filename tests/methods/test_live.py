"""The live probe: which layers it shows, the top classes, and one thread for torch."""

from __future__ import annotations

from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import nn

import neuronscope as ns
from neuronscope.core.spec import InputSpec, attach_spec
from neuronscope.methods.live import LiveProbe, main_layers
from neuronscope.web.workers import ModelThread


def vgg_like() -> nn.Module:
    """A VGG-style net: every conv inside one `features` Sequential."""
    features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(4, 6, 3, padding=1), nn.ReLU())
    head = nn.Sequential(nn.Flatten(), nn.Linear(6 * 4 * 4, 3))
    model = nn.Sequential(OrderedDict(features=features, head=head))
    return attach_spec(model, InputSpec(shape=(3, 8, 8), class_names=["a", "b", "c"]))


def test_main_layers_look_inside_plain_containers() -> None:
    assert main_layers(vgg_like()) == ["features.0", "features.3", "head"]
    flat = ns.zoo.shapes_cnn(7)  # a flat Sequential: its convs and linears, as before
    assert main_layers(flat) == ["conv1", "conv2", "conv3", "conv4", "fc5", "fc6"]


def test_efficientnet_shows_its_blocks_and_classes() -> None:
    model = ns.zoo.load("efficientnet-lite0")
    probe = LiveProbe(model)
    names = [i.name for i in probe.layers]
    assert names == ["stem", *[f"block{i}" for i in range(16)], "head", "fc"]
    from neuronscope.data.photos import photo

    frame = probe.frame(photo("chelsea", 224))
    assert len(frame.top) == 5 and frame.top[0][1] >= frame.top[-1][1]
    assert {"tabby", "tiger cat", "Egyptian cat"} & {name for name, _ in frame.top}
    head = next(m for m in frame.maps if m.name == "head")
    assert tuple(head.maps.shape) == (1280, 7, 7)


def test_top_is_empty_without_class_names() -> None:
    model = attach_spec(nn.Sequential(nn.Conv2d(3, 2, 3)), InputSpec(shape=(3, 8, 8)))
    assert LiveProbe(model).frame(torch.rand(3, 8, 8)).top == []


def test_model_thread_runs_jobs_in_order_on_one_thread() -> None:
    thread = ModelThread()
    import threading

    with ThreadPoolExecutor(4) as pool:
        idents = list(pool.map(lambda _: thread.call(threading.get_ident), range(8)))
    assert len(set(idents)) == 1 and idents[0] != threading.get_ident()
    assert thread.call(torch.get_num_threads) == torch.get_num_threads()
    thread.close()
