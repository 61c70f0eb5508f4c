"""FLOP rules per ATen operator (see conventions.py). Each handler gets the
counter, the op's args/kwargs and its output, and returns (flops, foldable):
foldable marks outputs of conv/linear layers, into which a following inference
batch norm folds."""
from __future__ import annotations

from . import conventions as cv


def _shape(t):
    return tuple(t.shape)


def _numel(t) -> int:
    return int(t.numel())


def _conv(counter, args, kwargs, out):
    x, w = args[0], args[1]
    transposed = bool(args[6]) if len(args) > 6 else bool(kwargs.get("transposed", False))
    spatial = _shape(x)[2:] if transposed else _shape(out)[2:]
    return cv.conv_flops(_shape(x)[0], _shape(w), spatial), True


def _mm(counter, args, kwargs, out):  # mm(a, b), bmm(a, b)
    return cv.matmul_flops(_shape(out), _shape(args[0])[-1]), True


def _addmm(counter, args, kwargs, out):  # addmm(bias, a, b), baddbmm(bias, a, b), addmv(bias, m, v)
    return cv.matmul_flops(_shape(out), _shape(args[1])[-1]), True


def _mv(counter, args, kwargs, out):
    return cv.matmul_flops(_shape(out), _shape(args[0])[-1]), False


def _dot(counter, args, kwargs, out):
    return _numel(args[0]), False


def _batch_norm(counter, args, kwargs, out):
    """native_batch_norm, _native_batch_norm_legit, cudnn/miopen_batch_norm:
    (input, weight, bias, running_mean, running_var, training, ...), or the no_stats
    overload (input, weight, bias, training, ...), which always uses batch statistics."""
    x, weight = args[0], args[1]
    with_stats = len(args) > 5 and not isinstance(args[3], bool)
    batch_stats = bool(args[5]) if with_stats else True
    return cv.batch_norm_flops(_numel(x), weight is not None, batch_stats, counter.is_foldable(x)), False


def _batch_norm_fixed(batch_stats: bool):
    def handler(counter, args, kwargs, out):
        x, weight = args[0], args[1] if len(args) > 1 else None
        return cv.batch_norm_flops(_numel(x), weight is not None, batch_stats, counter.is_foldable(x)), False

    return handler


def _norm(weight_index):
    def handler(counter, args, kwargs, out):
        weight = args[weight_index] if len(args) > weight_index else None
        return cv.norm_flops(_numel(args[0]), weight is not None), False

    return handler


def _per_output(k, ndim=4):
    def handler(counter, args, kwargs, out):
        return (k * _numel(out) if out.dim() == ndim else 0), False

    return handler


def _avg_pool(counter, args, kwargs, out):
    return (cv.AVG_POOL_PER_INPUT * _numel(args[0]) if args[0].dim() == 4 else 0), False


def _mean(counter, args, kwargs, out):
    """A mean over both spatial dims of an N x C x H x W map is global average pooling
    (how adaptive_avg_pool2d(x, 1) runs)."""
    x = args[0]
    dims = args[1] if len(args) > 1 else kwargs.get("dim")
    if x.dim() != 4 or dims is None:
        return 0, False
    dims = sorted(d % 4 for d in (dims if isinstance(dims, (list, tuple)) else [dims]))
    return (cv.AVG_POOL_PER_INPUT * _numel(x) if dims == [2, 3] else 0), False


def _sdpa(counter, args, kwargs, out):
    q, k, v = args[0], args[1], args[2]
    *lead, q_len, qk_dim = _shape(q)
    return cv.attention_flops(cv.prod(lead), q_len, _shape(k)[-2], qk_dim, _shape(v)[-1]), False


def _mha_flops(batch, q_len, kv_len, embed):
    """in-projections of q, k, v + attention + out-projection."""
    proj = batch * (q_len + 2 * kv_len) * embed * embed + batch * q_len * embed * embed
    return proj + cv.attention_flops(batch, q_len, kv_len, embed, embed)


def _native_mha(counter, args, kwargs, out):
    """_native_multi_head_attention(query, key, value, embed_dim, num_head, ...): the
    fused path TorchScript keeps for nn.MultiheadAttention."""
    q, k = args[0], args[1]
    batch, q_len = (1, _shape(q)[0]) if q.dim() == 2 else _shape(q)[:2]
    return _mha_flops(batch, q_len, _shape(k)[-2], int(args[3])), False


def _encoder_layer(counter, args, kwargs, out):
    """_transformer_encoder_layer_fwd(src, embed_dim, num_heads, qkv_w, qkv_b, proj_w, proj_b,
    use_gelu, norm_first, eps, norm_w1, norm_b1, norm_w2, norm_b2, ffn_w1, ffn_b1, ffn_w2, ffn_b2, ...)."""
    src, embed, ffn_w1 = args[0], int(args[1]), args[14]
    batch, length = (1, _shape(src)[0]) if src.dim() == 2 else _shape(src)[:2]
    ffn = 2 * batch * length * embed * _shape(ffn_w1)[0]
    norms = 2 * cv.norm_flops(_numel(src), True)
    return _mha_flops(batch, length, length, embed) + ffn + norms, False


def handlers() -> dict:
    import torch

    aten = torch.ops.aten
    table = {
        "convolution": _conv, "_convolution": _conv,
        "mm": _mm, "bmm": _mm, "addmm": _addmm, "baddbmm": _addmm, "addbmm": _addmm,
        "mv": _mv, "addmv": _addmm, "dot": _dot,
        "native_batch_norm": _batch_norm, "cudnn_batch_norm": _batch_norm, "miopen_batch_norm": _batch_norm,
        "_native_batch_norm_legit": _batch_norm,
        "_native_batch_norm_legit_no_training": _batch_norm_fixed(False),
        "_batch_norm_no_update": _batch_norm_fixed(False),
        "_batch_norm_with_update": _batch_norm_fixed(True),
        "native_layer_norm": _norm(2), "native_group_norm": _norm(1),
        "upsample_nearest2d": _per_output(cv.UPSAMPLE_NEAREST_PER_OUTPUT),
        "_upsample_nearest_exact2d": _per_output(cv.UPSAMPLE_NEAREST_PER_OUTPUT),
        "upsample_bilinear2d": _per_output(cv.UPSAMPLE_BILINEAR_PER_OUTPUT),
        "_upsample_bilinear2d_aa": _per_output(cv.UPSAMPLE_BILINEAR_PER_OUTPUT),
        "grid_sampler_2d": _per_output(cv.GRID_SAMPLE_PER_OUTPUT),
        "_adaptive_avg_pool2d": _avg_pool, "avg_pool2d": _avg_pool, "mean": _mean,
        "_scaled_dot_product_flash_attention_for_cpu": _sdpa,
        "_scaled_dot_product_flash_attention": _sdpa,
        "_scaled_dot_product_efficient_attention": _sdpa,
        "_scaled_dot_product_cudnn_attention": _sdpa,
        "_scaled_dot_product_fused_attention_overrideable": _sdpa,
        "_native_multi_head_attention": _native_mha, "_transformer_encoder_layer_fwd": _encoder_layer,
    }
    return {getattr(aten, name): h for name, h in table.items() if hasattr(aten, name)}
