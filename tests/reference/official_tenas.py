"""Official-style TE-NAS / TEG-NAS references, transcribed from

* VITA-Group/TENAS ``lib/procedures/ntk.py`` (``get_ntk_n``, commit 9df78ff, with
  ``np.nan_to_num(cond, nan=100000.0)``), ``lib/procedures/linear_region_counter.py``
  (``LinearRegionCount`` with the fp16 zero test, ``Linear_Region_Collector`` hooks),
  ``lib/models/cell_searchs/search_model_darts.py`` (``TinyNetworkDarts`` with ``depth`` and
  ``use_stem``), ``search_cells.py`` (``NAS201SearchCell``), ``cell_operations.py`` (OPS) and
  ``prune_tenas.py`` (thin config ``DARTS-V1, C=1, N=1, depth=1, use_stem=False, affine=True``);
* VITA-Group/TEGNAS ``lib/procedures/ntk.py`` (``get_ntk_n`` with ``loader_val``, commit dfa4177)
  and ``te_reward_generator.py`` (``arch_str2mask_201``: 0 for the chosen op, -1000 otherwise).

Kept faithful on purpose, including the cost (one ``.backward()`` per example into every
``.grad``, ``zero_grad`` between examples; TEG-NAS recomputes the training rows). Patches needed
on torch 2.x, as SPEC-proxies.md documents: ``torch.symeig`` -> ``torch.linalg.eigvalsh(UPLO='U')``;
``res += res.T`` (overlapping in-place) -> ``res = res + res.T``; ``.cuda()`` -> the input's device;
``loader.next()`` -> explicit batches. The model is deep-copied first (the official code mutates
it: train mode, grads); logits are the last element of a tuple output.

The crop sampler :func:`official_crops` is NOT official code (the official input is a shuffled
CIFAR-10 loader with ``RandomCrop(3)`` + ``RandChannel(1)``); it is the knas protocol for drawing
crops from a given batch, transcribed independently so both sides see the same crops.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn as nn

INF = 1000
NAS_BENCH_201 = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
op2index_201 = {op: k for k, op in enumerate(NAS_BENCH_201)}


def _logits(out):
    return out[-1] if isinstance(out, (tuple, list)) else out


# ---- NTK (TE-NAS get_ntk_n, one network, one batch, train_mode=True) -------------------------------

def official_ntk_cond(model, x, y=None, **opts) -> float:
    network = copy.deepcopy(model)
    network.train()
    grads = []
    network.zero_grad()
    inputs_ = x.clone()
    logit = network(inputs_)
    if isinstance(logit, tuple):
        logit = logit[-1]
    for _idx in range(len(inputs_)):
        logit[_idx : _idx + 1].backward(torch.ones_like(logit[_idx : _idx + 1]), retain_graph=True)
        grad = []
        for name, W in network.named_parameters():
            if "weight" in name and W.grad is not None:
                grad.append(W.grad.view(-1).detach())
        grads.append(torch.cat(grad, -1))
        network.zero_grad()
    grads = torch.stack(grads, 0)
    ntk = torch.einsum("nc,mc->nm", [grads, grads])
    eigenvalues = torch.linalg.eigvalsh(ntk, UPLO="U")  # torch.symeig(ntk): ascending
    return float(np.nan_to_num((eigenvalues[-1] / eigenvalues[0]).item(), copy=True, nan=100000.0))


# ---- TEG-NAS get_ntk_n with loader_val (cond + MSE) -----------------------------------------------

def official_teg_ntk(model, x, y, x_val, y_val, num_classes):
    """TEG-NAS ``get_ntk_n(loader=[(x, y)], [net], loader_val=[(x_val, y_val)], train_mode=True,
    num_batch=1, num_classes)`` -> ``(cond, mse)`` (-1 = "bad")."""
    network = copy.deepcopy(model)
    network.train()
    grads_x, cellgrads_x, cellgrads_y = [], [], []
    targets_onehot = torch.nn.functional.one_hot(y, num_classes=num_classes).float()
    targets_x_onehot_mean = targets_onehot - targets_onehot.mean(0)
    network.zero_grad()
    inputs_ = x.clone()
    logit = network(inputs_)
    if isinstance(logit, tuple):
        logit = logit[-1]
    for _idx in range(len(inputs_)):
        logit[_idx : _idx + 1].backward(torch.ones_like(logit[_idx : _idx + 1]), retain_graph=True)
        grad, cellgrad = [], []
        for name, W in network.named_parameters():
            if "weight" in name and W.grad is not None:
                grad.append(W.grad.view(-1).detach())
                if "cell" in name:
                    cellgrad.append(W.grad.view(-1).detach())
        grads_x.append(torch.cat(grad, -1))
        cellgrad = torch.cat(cellgrad, -1) if len(cellgrad) > 0 else torch.Tensor([0]).to(x.device)
        cellgrads_x.append(cellgrad)
        network.zero_grad()
    cellgrads_x = torch.stack(cellgrads_x, 0)
    ntk_cell_x = torch.einsum("nc,mc->nm", [cellgrads_x, cellgrads_x])
    grads_x = torch.stack(grads_x, 0)
    ntk = torch.einsum("nc,mc->nm", [grads_x, grads_x])
    try:
        eigenvalues = torch.linalg.eigvalsh(ntk, UPLO="U")
        _cond = eigenvalues[-1] / eigenvalues[0]
        cond = -1 if torch.isnan(_cond) else _cond.item()
    except RuntimeError:
        cond = -1
    # val / test batch
    targets_onehot = torch.nn.functional.one_hot(y_val, num_classes=num_classes).float()
    targets_y_onehot_mean = targets_onehot - targets_onehot.mean(0)
    network.zero_grad()
    inputs_ = x_val.clone()
    logit = network(inputs_)
    if isinstance(logit, tuple):
        logit = logit[-1]
    for _idx in range(len(inputs_)):
        logit[_idx : _idx + 1].backward(torch.ones_like(logit[_idx : _idx + 1]), retain_graph=True)
        cellgrad = []
        for name, W in network.named_parameters():
            if "weight" in name and W.grad is not None and "cell" in name:
                cellgrad.append(W.grad.view(-1).detach())
        cellgrad = torch.cat(cellgrad, -1) if len(cellgrad) > 0 else torch.Tensor([0]).to(x.device)
        cellgrads_y.append(cellgrad)
        network.zero_grad()
    cellgrads_y = torch.stack(cellgrads_y, 0)
    if cellgrads_y.sum() == 0 or cellgrads_x.sum() == 0:
        return cond, -1
    try:
        _ntk_yx = torch.einsum("nc,mc->nm", [cellgrads_y, cellgrads_x])
        PY = torch.einsum("jk,kl,lm->jm", _ntk_yx, torch.inverse(ntk_cell_x), targets_x_onehot_mean)
        mse = ((PY - targets_y_onehot_mean) ** 2).sum(1).mean(0).item()
    except RuntimeError:
        mse = -1
    return cond, mse


def official_ntk_mse(model, x, y, x_val=None, y_val=None, num_classes=None, **opts) -> float:
    if num_classes is None:
        raise ValueError("official_ntk_mse needs num_classes")
    return float(official_teg_ntk(model, x, y, x_val, y_val, num_classes)[1])


# ---- thin network (TinyNetworkDarts, DARTS-V1, C=1, N=1, depth=1, use_stem=False) -----------------

class ReLUConvBN(nn.Module):
    def __init__(self, C_in, C_out, kernel_size, stride, padding, dilation, affine, track_running_stats=True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats),
        )

    def forward(self, x):
        return self.op(x)


class ResNetBasicblock(nn.Module):
    def __init__(self, inplanes, planes, stride, affine=True):
        super().__init__()
        self.conv_a = ReLUConvBN(inplanes, planes, 3, stride, 1, 1, affine)
        self.conv_b = ReLUConvBN(planes, planes, 3, 1, 1, 1, affine)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(inplanes, planes, kernel_size=1, stride=1, padding=0, bias=False),
        )
        self.out_dim = planes

    def forward(self, inputs):
        return self.downsample(inputs) + self.conv_b(self.conv_a(inputs))


class POOLING(nn.Module):
    def __init__(self, C_in, C_out, stride, mode, affine=True, track_running_stats=True):
        super().__init__()
        self.preprocess = None if C_in == C_out else ReLUConvBN(C_in, C_out, 1, 1, 0, 1, affine, track_running_stats)
        self.op = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)

    def forward(self, inputs):
        x = self.preprocess(inputs) if self.preprocess else inputs
        return self.op(x)


class Identity(nn.Module):
    def forward(self, x):
        return x


class Zero(nn.Module):
    def __init__(self, C_in, C_out, stride):
        super().__init__()
        self.C_in, self.C_out, self.stride = C_in, C_out, stride

    def forward(self, x):
        if self.C_in == self.C_out:
            if self.stride == 1:
                return x.mul(0.0)
            return x[:, :, :: self.stride, :: self.stride].mul(0.0)
        shape = list(x.shape)
        shape[1] = self.C_out
        return x.new_zeros(shape, dtype=x.dtype, device=x.device)


OPS = {
    "none": lambda C_in, C_out, stride, affine, trs: Zero(C_in, C_out, stride),
    "avg_pool_3x3": lambda C_in, C_out, stride, affine, trs: POOLING(C_in, C_out, stride, "avg", affine, trs),
    "nor_conv_3x3": lambda C_in, C_out, stride, affine, trs: ReLUConvBN(C_in, C_out, (3, 3), (stride, stride), (1, 1), (1, 1), affine, trs),
    "nor_conv_1x1": lambda C_in, C_out, stride, affine, trs: ReLUConvBN(C_in, C_out, (1, 1), (stride, stride), (0, 0), (1, 1), affine, trs),
    "skip_connect": lambda C_in, C_out, stride, affine, trs: Identity(),  # stride 1, C_in == C_out here
}


class NAS201SearchCell(nn.Module):
    def __init__(self, C_in, C_out, stride, max_nodes, op_names, affine=False, track_running_stats=True):
        super().__init__()
        self.op_names = list(op_names)
        self.edges = nn.ModuleDict()
        self.max_nodes = max_nodes
        self.out_dim = C_out
        for i in range(1, max_nodes):
            for j in range(i):
                node_str = "{:}<-{:}".format(i, j)
                if j == 0:
                    xlists = [OPS[op_name](C_in, C_out, stride, affine, track_running_stats) for op_name in op_names]
                else:
                    xlists = [OPS[op_name](C_in, C_out, 1, affine, track_running_stats) for op_name in op_names]
                self.edges[node_str] = nn.ModuleList(xlists)
        self.edge_keys = sorted(list(self.edges.keys()))
        self.edge2index = {key: i for i, key in enumerate(self.edge_keys)}
        self.num_edges = len(self.edges)

    def forward(self, inputs, weightss):
        nodes = [inputs]
        for i in range(1, self.max_nodes):
            inter_nodes = []
            for j in range(i):
                node_str = "{:}<-{:}".format(i, j)
                weights = weightss[self.edge2index[node_str]]
                inter_nodes.append(
                    sum(layer(nodes[j]) * w if w > 0.01 else 0 for layer, w in zip(self.edges[node_str], weights))
                )
            nodes.append(sum(inter_nodes))
        return nodes[-1]


class TinyNetworkDarts(nn.Module):
    def __init__(self, C, N, max_nodes, num_classes, search_space, affine, track_running_stats, depth=-1, use_stem=True):
        super().__init__()
        self.use_stem = use_stem
        self.stem = nn.Sequential(nn.Conv2d(min(3, C), C, kernel_size=3, padding=1, bias=False), nn.BatchNorm2d(C))
        layer_channels = [C] * N + [C * 2] + [C * 2] * N + [C * 4] + [C * 4] * N
        layer_reductions = [False] * N + [True] + [False] * N + [True] + [False] * N
        C_prev, num_edge = C, None
        self.cells = nn.ModuleList()
        for index, (C_curr, reduction) in enumerate(zip(layer_channels, layer_reductions)):
            if depth > 0 and index >= depth:
                break
            if reduction:
                cell = ResNetBasicblock(C_prev, C_curr, 2)
            else:
                cell = NAS201SearchCell(C_prev, C_curr, 1, max_nodes, search_space, affine, track_running_stats)
                if num_edge is None:
                    num_edge = cell.num_edges
            self.cells.append(cell)
            C_prev = cell.out_dim
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)
        self.arch_parameters = nn.Parameter(1e-3 * torch.randn(num_edge, len(search_space)))

    def set_alphas(self, arch_parameters):
        self.arch_parameters.data.copy_(arch_parameters[0].data)

    def forward(self, inputs):
        alphas = nn.functional.softmax(self.arch_parameters, dim=-1)
        feature = self.stem(inputs) if self.use_stem else inputs
        for cell in self.cells:
            feature = cell(feature, alphas) if isinstance(cell, NAS201SearchCell) else cell(feature)
        out = self.lastact(feature)
        out = self.global_pooling(out)
        out = out.view(out.size(0), -1)
        logits = self.classifier(out)
        return out, logits


def arch_str2mask_201(arch_str):
    masks = [torch.ones(6, 5) * (-INF)]
    arch_str_list = np.take(arch_str.split("|"), [1, 3, 4, 6, 7, 8])
    for idx, op in enumerate(arch_str_list):
        masks[0][idx, op2index_201[op.split("~")[0]]] = 0
    return masks


def official_thin_net(arch_str, num_classes):
    """``get_cell_based_tiny_net(model_config_thin)`` + ``set_alphas(arch_str2mask_201(arch))``."""
    net = TinyNetworkDarts(1, 1, 4, num_classes, NAS_BENCH_201, affine=True, track_running_stats=True, depth=1, use_stem=False)
    net.set_alphas(arch_str2mask_201(arch_str))
    return net.train()


# ---- linear regions ---------------------------------------------------------------------------------

class LinearRegionCount:
    def __init__(self, n_samples, half=True):
        self.n_LR = -1
        self.n_samples = n_samples
        self.ptr = 0
        self.activations = None
        self.half = half

    @torch.no_grad()
    def update2D(self, activations):
        n_batch = activations.size()[0]
        n_neuron = activations.size()[1]
        if self.activations is None:
            self.activations = torch.zeros(self.n_samples, n_neuron, device=activations.device)
        self.activations[self.ptr : self.ptr + n_batch] = torch.sign(activations)  # after ReLU
        self.ptr += n_batch

    @torch.no_grad()
    def calc_LR(self):
        if self.half:  # TE-NAS
            res = torch.matmul(self.activations.half(), (1 - self.activations).T.half())
        else:  # TEG-NAS
            res = torch.matmul(self.activations, (1 - self.activations).T)
        res = res + res.T  # official: res += res.T
        res = 1 - torch.sign(res)
        res = res.sum(1)
        res = 1.0 / res.float()
        self.n_LR = res.sum().item()

    def getLinearReginCount(self):
        if self.n_LR == -1:
            self.calc_LR()
        return self.n_LR


class LinearRegionCollector:
    """``Linear_Region_Collector`` with explicit input batches instead of a data loader."""

    def __init__(self, models, n_samples, half=True):
        self.models = models
        self.interFeature = []
        self.handles = []
        for model in models:
            for m in model.modules():
                if isinstance(m, nn.ReLU):
                    self.handles.append(m.register_forward_hook(hook=self.hook_in_forward))
        self.LRCounts = [LinearRegionCount(n_samples, half) for _ in models]

    def hook_in_forward(self, module, input, output):
        if isinstance(input, tuple) and len(input[0].size()) == 4:
            self.interFeature.append(output.detach())  # for ReLU

    def forward_batch_sample(self, batches):
        for inputs in batches:
            for model, LRCount in zip(self.models, self.LRCounts):
                self.forward(model, LRCount, inputs)
        return [LRCount.getLinearReginCount() for LRCount in self.LRCounts]

    def forward(self, model, LRCount, input_data):
        self.interFeature = []
        with torch.no_grad():
            model.forward(input_data)
            if len(self.interFeature) == 0:
                return
            feature_data = torch.cat([f.view(input_data.size(0), -1) for f in self.interFeature], 1)
            LRCount.update2D(feature_data)


def official_crops(x, n_samples, repeats, seed):
    """knas crop protocol (not official code): per batch draw image index, channel, top, left."""
    N, C, H, W = x.shape
    g = torch.Generator()
    g.manual_seed(seed)
    batches = []
    for _ in range(repeats):
        idx = torch.randint(N, (n_samples,), generator=g)
        ch = torch.randint(C, (n_samples,), generator=g)
        top = torch.randint(H - 2, (n_samples,), generator=g)
        left = torch.randint(W - 2, (n_samples,), generator=g)
        crops = torch.empty(n_samples, 1, 3, 3, dtype=x.dtype)
        xc = x.cpu()
        for s in range(n_samples):  # slow on purpose: an independent transcription
            t, l = int(top[s]), int(left[s])
            crops[s, 0] = xc[int(idx[s]), int(ch[s]), t : t + 3, l : l + 3]
        batches.append(crops.to(x.device))
    return batches


def _arch_of(model, arch=None):
    if arch is not None:
        return arch
    if isinstance(getattr(model, "arch", None), str):
        return model.arch
    for m in model.modules():
        if hasattr(m, "genotype") and hasattr(m.genotype, "tostr"):
            return m.genotype.tostr()
    raise ValueError("no architecture")


def official_linear_regions(model, x, y=None, n_samples=1000, repeats=3, nets=1, seed=0, num_classes=10,
                            half=True, arch=None, **opts) -> float:
    """TE-NAS (``nets=1``, fp16 zero test) / TEG-NAS (``nets=3``, ``half=False``) region count:
    ``nets`` thin nets built after ``torch.manual_seed(seed)``, each fed the same ``repeats``
    batches of ``n_samples`` crops, count over all ``n_samples * repeats`` samples, mean over nets."""
    arch = _arch_of(model, arch)
    batches = official_crops(x, n_samples, repeats, seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        models = [official_thin_net(arch, num_classes) for _ in range(nets)]
    models = [m.to(x.device) for m in models]
    lrc = LinearRegionCollector(models, n_samples * repeats, half=half)
    return float(np.mean(lrc.forward_batch_sample(batches)))
