"""partial_fit's model side: the fitted weights copied into a module grown for new ids."""

from __future__ import annotations

import torch

from skmatch.exceptions import format_values


@torch.no_grad()
def grow_into(module: torch.nn.Module, old_state: dict, *, zero_new_rows: bool = False) -> None:
    """Copy a smaller model's weights into ``module``: tables that grew keep their rows.

    Every entry of ``old_state`` must have the new entry's shape, or the same shape but a
    longer first axis (an item or feature-value table): its first rows are copied, the
    new rows keep their fresh initialisation, or are zero with ``zero_new_rows`` (items
    added without training: an id never trained adds nothing to the item's features).
    """
    state = module.state_dict()
    params = {name for name, _ in module.named_parameters()}
    added, removed = sorted(set(state) - set(old_state)), sorted(set(old_state) - set(state))
    if added or removed:
        what = f"weights {format_values(added)} are new" if added else ""
        what += (" and " if added and removed else "")
        what += f"weights {format_values(removed)} are gone" if removed else ""
        raise ValueError(_ARCHITECTURE_CHANGED.format(what=what))
    for name, old in old_state.items():
        fresh = state[name]
        if fresh.shape == old.shape:
            fresh.copy_(old)
        elif fresh.dim() == old.dim() and fresh.shape[1:] == old.shape[1:] and (
            fresh.shape[0] > old.shape[0]
        ):
            fresh[: old.shape[0]].copy_(old)
            if zero_new_rows and name in params:
                fresh[old.shape[0] :].zero_()
        else:
            what = f"{name} is {tuple(fresh.shape)}, was {tuple(old.shape)}"
            raise ValueError(_ARCHITECTURE_CHANGED.format(what=what))


_ARCHITECTURE_CHANGED = (
    "partial_fit continues the fitted network, but its architecture has changed since "
    "fit ({what}): a parameter that shapes it (embed_dim, hidden_dims, hidden_size, "
    "n_layers, n_heads, n_interests, ...) was set after fit. Set it back, or call fit to "
    "train the new architecture."
)
