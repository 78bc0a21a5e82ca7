"""jaxcnn.conv against torch.nn.functional.conv{1,2,3}d (skipped without torch).

Torch is channels-first (NC*, OI*); we convert layouts. The torch reference runs in
float64, ours in float32 at HIGHEST precision; gradients come from torch autograd.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxcnn
from conftest import HIGHEST, assert_close

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")
F = torch.nn.functional

TOL = 1e-5

# (id, batch, spatial, c_in, c_out, kernel, stride, padding, dilation, groups)
CASES = [
    ("1d-basic", 2, (11,), 3, 4, (3,), 1, 0, 1, 1),
    ("1d-stride-pad-dil", 2, (13,), 4, 6, (3,), 2, 2, 2, 2),
    ("1d-same-even-k", 1, (9,), 2, 2, (4,), 1, "same", 1, 1),
    ("1d-circular", 2, (8,), 2, 3, (3,), 1, "circular", 2, 1),
    ("2d-basic", 2, (7, 6), 3, 5, (3, 2), 1, 0, 1, 1),
    ("2d-stride-tuple", 2, (9, 8), 4, 4, (3, 3), (2, 1), (1, 2), 1, 4),
    ("2d-dilation-groups", 1, (8, 9), 4, 6, (2, 3), 1, 1, (2, 1), 2),
    ("2d-same-dilated", 2, (7, 7), 2, 4, (3, 2), 1, "same", (1, 2), 2),
    ("2d-valid-str", 1, (6, 6), 2, 2, (2, 2), 3, "valid", 1, 1),
    ("2d-circular", 2, (6, 7), 3, 3, (3, 5), 1, "circular", 1, 1),
    ("3d-basic", 1, (5, 4, 6), 2, 3, (2, 2, 3), 1, 0, 1, 1),
    ("3d-all", 2, (6, 5, 5), 4, 4, (3, 2, 2), (1, 2, 3), (1, 0, 2), (2, 1, 1), 2),
]


def _tuple(v, n):
    return (v,) * n if isinstance(v, int) else tuple(v)


@pytest.mark.parametrize("batch,spatial,c_in,c_out,ks,stride,padding,dilation,groups",
                         [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_conv_matches_torch(batch, spatial, c_in, c_out, ks, stride, padding, dilation, groups):
    n = len(spatial)
    rng = np.random.default_rng(abs(hash((spatial, ks, c_in, c_out))) % 2**32)
    x = rng.standard_normal((batch, *spatial, c_in)).astype(np.float32)
    k = rng.standard_normal((*ks, c_in // groups, c_out)).astype(np.float32)
    b = rng.standard_normal((c_out,)).astype(np.float32)

    # --- torch (float64, channels first) ---
    tx = torch.tensor(np.moveaxis(x, -1, 1), dtype=torch.float64, requires_grad=True)
    tk = torch.tensor(np.transpose(k, (n + 1, n, *range(n))), dtype=torch.float64,
                      requires_grad=True)  # (*k, I, O) -> (O, I, *k)
    tb = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[n]
    if padding == "circular":
        dl = _tuple(dilation, n)
        p = [((kk - 1) * d) // 2 for kk, d in zip(ks, dl)]  # odd effective kernels only
        assert all(((kk - 1) * d) % 2 == 0 for kk, d in zip(ks, dl))
        txp = F.pad(tx, [q for pp in reversed(p) for q in (pp, pp)], mode="circular")
        ty = conv(txp, tk, tb, stride=stride, padding=0, dilation=dilation, groups=groups)
        ours_padding = "CIRCULAR"
    else:
        ty = conv(tx, tk, tb, stride=stride, padding=padding, dilation=dilation, groups=groups)
        ours_padding = padding.upper() if isinstance(padding, str) else padding
        if isinstance(padding, tuple):
            ours_padding = tuple((p, p) for p in padding)
    want = np.moveaxis(ty.detach().numpy(), 1, -1)
    ct = rng.standard_normal(want.shape)
    ty.backward(torch.tensor(np.moveaxis(ct, -1, 1)))
    want_dx = np.moveaxis(tx.grad.numpy(), 1, -1)
    want_dk = np.transpose(tk.grad.numpy(), (*range(2, n + 2), 1, 0))
    want_db = tb.grad.numpy()

    # --- ours ---
    def f(x, k, b):
        return jaxcnn.conv(x, k, b, strides=stride, padding=ours_padding, dilation=dilation,
                           groups=groups, precision=HIGHEST)

    y, vjp = jax.vjp(f, jnp.asarray(x), jnp.asarray(k), jnp.asarray(b))
    dx, dk, db = vjp(jnp.asarray(ct, jnp.float32))
    assert_close(y, want, tol=TOL, name="forward", dtype=jnp.float32)
    assert_close(dx, want_dx, tol=TOL, name="d/dx")
    assert_close(dk, want_dk, tol=TOL, name="d/dkernel")
    assert_close(db, want_db, tol=TOL, name="d/dbias")
