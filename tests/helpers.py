"Helpers shared by the test modules (imported as `from helpers import ...`: pytest puts tests/ on sys.path)."

def same_state(a, b) -> bool:
    "Nested dicts/lists of tensors and plain values, equal exactly."
    import torch
    if isinstance(a, dict): return isinstance(b, dict) and a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)): return len(a) == len(b) and all(same_state(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor): return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    return a == b
