"""Full-softmax cross-entropy over the catalogue without its ``[P, N]`` logits in memory.

``softmax_loss(user, items, target, temperature)`` is
``F.cross_entropy(user @ items.T / temperature, target, ignore_index=-100)`` (with
``weight``, the weighted mean of the rows' losses): the loss of
the sequence models with ``negatives="all"``. Written that way, every step materialises
the ``[P, N]`` logits, their log-softmax and its gradient: for SASRec on MovieLens
(2,560 positions x 1,683 items) three 17 MB tensors a step, each written and read from
main memory. Here the rows go through in blocks that stay in cache (on CUDA, blocks of
up to 256 MiB of logits, which bound the memory without many launches): each block's logits
are computed, turned into the block's loss and, in the same pass, into its gradient
(softmax minus the one-hot target), which is multiplied out at once into the gradients
of ``user`` and ``items``. The backward pass only scales those by the incoming gradient.
The matrix products are those of autograd's version (three per block), so nothing is
recomputed.

Under autocast the products run in the autocast dtype and the softmax in float32, as
``F.cross_entropy`` does after an autocast ``matmul``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

IGNORE = -100
# logits per block: 2 MiB of float32 on CPU (cache-sized); on CUDA 256 MiB, few launches
_BLOCK_ELEMENTS = 1 << 19
_CUDA_BLOCK_ELEMENTS = 1 << 26


def _block_rows(n_items: int, device: str = "cpu") -> int:
    """Rows per block: about ``_BLOCK_ELEMENTS`` logits, a multiple of 128 rows (few
    distinct shapes: oneDNN builds a bfloat16 kernel per shape)."""
    elements = _CUDA_BLOCK_ELEMENTS if device == "cuda" else _BLOCK_ELEMENTS
    return max(128, (elements // max(n_items, 1)) // 128 * 128)


def autocast_dtype(device: str) -> torch.dtype | None:
    """The dtype of the enclosing autocast region on ``device``, None outside one."""
    try:
        return torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None
    except (TypeError, AttributeError):  # torch < 2.4
        if device == "cpu":
            return torch.get_autocast_cpu_dtype() if torch.is_autocast_cpu_enabled() else None
        return torch.get_autocast_gpu_dtype() if torch.is_autocast_enabled() else None


class _SoftmaxLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, user, items, target, temperature, weight):  # [P, D], [N, D], [P] -> []
        device = user.device.type
        mm_dtype = autocast_dtype(device)
        with torch.autocast(device, enabled=False):
            scale = 1.0 / temperature
            u = user * scale if scale != 1.0 else user  # [P, D]: logits = (u / t) . i
            i = items
            if mm_dtype is not None and user.dtype != torch.float64:  # autocast skips float64
                u, i = u.to(mm_dtype), items.to(mm_dtype)
            acc = torch.promote_types(user.dtype, torch.float32)  # softmax dtype
            valid = (target != IGNORE).to(acc)  # [P]: each row's weight in the mean
            if weight is not None:
                valid = valid * weight.to(acc)
            n_valid = valid.sum()
            grad_user = torch.empty(user.shape, dtype=u.dtype, device=user.device)
            grad_items = torch.zeros(items.shape, dtype=acc, device=user.device)
            total = torch.zeros((), dtype=acc, device=user.device)
            step = _block_rows(items.shape[0], device)
            # one block of logits, written over by every block: no fresh buffer per block
            block = u.new_empty((min(step, user.shape[0]), items.shape[0]))
            for start in range(0, user.shape[0], step):
                rows = slice(start, start + step)
                u_b, t_b, v_b = u[rows], target[rows], valid[rows]
                logits = torch.mm(u_b, i.T, out=block[: u_b.shape[0]]).to(acc)  # [b, N]
                safe = t_b.clamp_min(0).unsqueeze(1)  # ignored rows: any column
                picked = logits.gather(1, safe).squeeze(1)  # [b]
                peak = logits.amax(1, keepdim=True)  # [b, 1]
                probs = logits.sub_(peak).exp_()  # in place: exp(logit - peak)
                norm = probs.sum(1, keepdim=True)  # [b, 1]
                total += ((peak.squeeze(1) + norm.squeeze(1).log() - picked) * v_b).sum()
                # gradient of the block's summed loss w.r.t. its logits: softmax minus the
                # one-hot target, zero on ignored rows
                probs.mul_(v_b.unsqueeze(1) / norm)
                probs.scatter_add_(1, safe, -v_b.unsqueeze(1))
                probs = probs.to(u.dtype)
                torch.mm(probs, i, out=grad_user[rows])  # [b, D]: of u, times scale
                if u_b.dtype == acc:
                    grad_items.addmm_(probs.T, u_b)  # [N, D]: u_b carries the scale
                else:  # products in a lower precision, accumulated in float32
                    grad_items += probs.T @ u_b
            # the mean's denominator: NaN loss and zero gradients with no row counted, as
            # torch's; a weighted sum of zero gives zero, as the other losses' weighted mean
            if weight is not None:
                n_valid = n_valid.clamp_min(1e-12)
            loss = total / n_valid
            ctx.save_for_backward(grad_user, grad_items, n_valid)
            ctx.scale, ctx.user_dtype, ctx.weighted = scale, user.dtype, weight is not None
        return loss

    @staticmethod
    @once_differentiable  # the gradients were computed in forward: no second order
    def backward(ctx, grad):  # [] -> gradients of user, items
        grad_user, grad_items, n_valid = ctx.saved_tensors
        # no row counted: zero gradients, as torch's (weighted: clamped in forward)
        factor = grad / (n_valid if ctx.weighted else n_valid.clamp_min(1))
        g_user = None
        if ctx.needs_input_grad[0]:
            g_user = (grad_user.to(factor.dtype) * (factor * ctx.scale)).to(ctx.user_dtype)
        g_items = (grad_items * factor) if ctx.needs_input_grad[1] else None
        return g_user, g_items, None, None, None


def _check_targets(target: torch.Tensor, n_items: int) -> None:
    bad = ((target < 0) & (target != IGNORE)) | (target >= n_items)
    if bool(bad.any()):
        raise IndexError(
            f"softmax_loss: {int(bad.sum())} target(s) outside [0, {n_items}) and not "
            f"{IGNORE} (ignored), first: {target[bad][:5].tolist()}."
        )


def softmax_loss(
    user: torch.Tensor,
    items: torch.Tensor,
    target: torch.Tensor,
    temperature: float = 1.0,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean cross-entropy of ``user @ items.T / temperature`` against ``target``.

    Parameters
    ----------
    user : Tensor
        ``[P, D]`` query vectors.
    items : Tensor
        ``[N, D]`` the catalogue's item vectors.
    target : Tensor
        ``[P]`` int64 column of each row's positive; ``-100`` rows are ignored.
    temperature : float, default 1.0
    weight : Tensor, optional
        ``[P]`` non-negative weight of each row: the loss is then
        ``sum(weight * loss) / sum(weight)`` over the rows not ignored (0 when the
        weights sum to 0).

    Returns
    -------
    Tensor
        The scalar mean over the rows not ignored (when every row is: NaN without
        ``weight``, as torch's, 0 with it), differentiable in ``user`` and ``items``
        (first-order only).

    Raises
    ------
    IndexError
        If a target is outside ``[0, N)`` and not ``-100``.
    """
    if target.device.type == "cpu":  # on CUDA the gather asserts; a check would stall steps
        _check_targets(target, items.shape[0])
    if not torch.is_grad_enabled():  # no gradient wanted: the plain loss is cheaper
        logits = user @ items.T / temperature
        if weight is None:
            return F.cross_entropy(logits, target, ignore_index=IGNORE)
        per_row = F.cross_entropy(logits, target, ignore_index=IGNORE, reduction="none")
        weight = weight.to(per_row.dtype) * (target != IGNORE)
        return (per_row * weight).sum() / weight.sum().clamp_min(1e-12)
    return _SoftmaxLoss.apply(user, items, target, float(temperature), weight)
