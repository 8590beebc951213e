"""Closed-form linear autoencoders (EASE, EDLAE) from one spectral factorisation.

Both models solve ``P = (G + Lambda)^-1`` with ``G = X'X`` and a diagonal ``Lambda``, then
take ``B = I - P diagMat(1 / diag(P))`` (Steck 2019; Steck 2020). Write ``Lambda = shift *
diagMat(1 / s**2)`` and ``Y = X diagMat(s)``: then ``P = diagMat(s) (Y'Y + shift I)^-1
diagMat(s)`` and one eigendecomposition of the smaller of ``YY'`` (users x users) and ``Y'Y``
(items x items) gives ``(Y'Y + shift I)^-1`` for every ``shift`` as a cheap rescale:

- users < items (Woodbury): ``YY' = U diag(w) U'``, ``A = Y'U`` and
  ``(Y'Y + shift I)^-1 = I / shift - A diag(1 / (shift (w + shift))) A'``;
- otherwise: ``Y'Y = V diag(w) V'``, ``A = V`` and the coefficient is ``-w / (shift (w + shift))``.

Nothing divides by an eigenvalue, so rank-deficient data is fine. EASE is ``s = 1, shift = l2``
(every l2 from one factorisation); EDLAE's ``Lambda = l2 + p / (1 - p) diag(G)`` is
``s = Lambda**-1/2, shift = 1``. Validation scores ``x B`` for a batch of users cost
``rows x rank x items`` per value (``Factored``), never a dense items x items matrix.

Tuning (``ShiftScores``, users < items): the scored users are rows of ``X`` itself, so the
push-through identity ``Y (Y'Y + shift I)^-1 = (YY' + shift I)^-1 Y`` gives ``x P = (K Y)_rows
S`` with ``K = U diag(1 / (w + shift)) U'`` (users x users), and ``diag(P) = s**2 (1 - (A*A)
(1 / (w + shift))) / shift`` from ``A*A`` kept once: per value ``rows x users x users`` flops
(float32) plus a sparse product, instead of ``rows x users x items``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

# Up to this rank the eigendecomposition runs in float64 (a few seconds at most); above it
# in float32, whose error (~1e-7 of the largest eigenvalue) is far below any useful shift.
FLOAT64_RANK = 4000
SUB_ROWS = 64  # ShiftScores.scores: users whose items-major block is transposed at once


class Spectrum:
    """``(Y'Y + shift I)^-1`` for any shift, ``Y = X diagMat(scale)``; see the module docstring."""

    def __init__(self, x: sp.csr_matrix, scale: np.ndarray | None = None, dtype=None):
        n_users, n_items = x.shape
        self.n_items = n_items
        self.scale = np.ones(n_items) if scale is None else np.asarray(scale, dtype=np.float64)
        y = sp.csr_matrix(x, dtype=np.float64) @ sp.diags(self.scale)
        self.woodbury = n_users < n_items
        rank = min(n_users, n_items)
        dtype = dtype or (np.float64 if rank <= FLOAT64_RANK else np.float32)
        small = (y @ y.T) if self.woodbury else (y.T @ y)
        w, u = sla.eigh(
            small.toarray().astype(dtype), overwrite_a=True, check_finite=False, driver="evd"
        )
        self.w = np.maximum(w, 0.0).astype(np.float64)  # tiny negatives are round-off
        self.a = np.asarray(y.T.tocsr() @ u) if self.woodbury else u  # items x rank
        self.a = np.ascontiguousarray(self.a, dtype=dtype)
        self.u = u if self.woodbury else None  # users x rank: YY' = U diag(w) U'
        self.y = y
        self._a2 = None

    def a_squared(self) -> np.ndarray:
        """``A*A`` (items x rank, float64), computed once: diag(P) for any shift is a matvec."""
        if self._a2 is None:
            self._a2 = np.empty(self.a.shape)
            for lo in range(0, len(self.a), 4096):
                block = self.a[lo : lo + 4096].astype(np.float64)
                self._a2[lo : lo + 4096] = block * block
        return self._a2

    def shift_scores(self, shift: float, dtype=np.float32) -> ShiftScores | Factored:
        """Scores for users of the factorised matrix at ``shift`` without ``rows x rank x
        items`` work (``ShiftScores``, users < items); otherwise the ``Factored`` solution."""
        if not self.woodbury:
            return self.solution(shift)
        return ShiftScores(self, shift, dtype)

    def coefficients(self, shift: float) -> np.ndarray:
        if shift <= 0:
            raise ValueError(f"the shift (l2) must be > 0, got {shift}")
        if self.woodbury:
            return -1.0 / (shift * (self.w + shift))
        return -self.w / (shift * (self.w + shift))

    def solution(self, shift: float) -> Factored:
        """B at ``shift`` in factored form: O(items x rank) memory, never items x items."""
        return Factored(self.scale, self.a, self.coefficients(shift), shift)

    def weights(self, shift: float, dtype=np.float32) -> np.ndarray:
        """The dense items x items B (zero diagonal)."""
        c = self.coefficients(shift)
        a = self.a.astype(dtype, copy=False)
        p = (a * c.astype(dtype)) @ a.T
        p[np.diag_indices_from(p)] += dtype(1.0 / shift)
        p *= self.scale.astype(dtype)[:, None]
        p *= self.scale.astype(dtype)[None, :]
        p /= -np.diag(p).copy()[None, :]
        np.fill_diagonal(p, 0.0)
        return p


class ShiftScores:
    """``x B`` at one shift for users (rows) of the matrix a ``Spectrum`` factorised (module
    docstring): ``x - ((K Y)_rows S) / diag(P)``, ``K_rows = Z_rows Z'``, ``Z = U
    diag((w + shift)**-1/2)``. Nothing items x items, nothing rows x rank x items."""

    def __init__(self, spectrum: Spectrum, shift: float, dtype=np.float32):
        if shift <= 0:
            raise ValueError(f"the shift (l2) must be > 0, got {shift}")
        self.spectrum, self.shift, self.dtype = spectrum, float(shift), np.dtype(dtype)
        v = 1.0 / (spectrum.w + self.shift)
        self.z = np.ascontiguousarray(spectrum.u * np.sqrt(v), dtype=self.dtype)
        p_diag = spectrum.scale**2 * (1.0 - spectrum.a_squared() @ v) / self.shift
        self.column = (spectrum.scale / p_diag).astype(self.dtype)  # x P S^-1 -> x B's term
        self.yt = spectrum.__dict__.get("_yt_" + self.dtype.name)
        if self.yt is None:  # Y' (items x users, CSR) in this dtype, shared by every shift
            self.yt = sp.csr_matrix(spectrum.y.T, dtype=self.dtype)
            spectrum.__dict__["_yt_" + self.dtype.name] = self.yt

        self._k = None

    def kernel(self) -> np.ndarray:
        """``K = Z Z'`` (users x users), once per shift: ``users**3`` flops (numpy sends
        ``z @ z.T`` to BLAS syrk and fills the other triangle itself)."""
        if self._k is None:
            self._k = self.z @ self.z.T
        return self._k

    def ky_t(self, rows: np.ndarray) -> np.ndarray:
        """``((K Y)_rows)'`` (items x len(rows))."""
        kt = np.ascontiguousarray(self.kernel()[rows].T)  # (K_rows)' (K is symmetric)
        return np.asarray(self.yt @ kt)

    def scores(self, rows: np.ndarray, x_rows: sp.csr_matrix) -> np.ndarray:
        """``x B`` (len(rows) x items, float32) for user codes ``rows`` whose histories are
        ``x_rows`` (the rows of the factorised matrix). ``K Y`` comes out items-major; it is
        turned row-major ``SUB_ROWS`` users at a time, while that block is still in cache."""
        out = np.empty((len(rows), self.yt.shape[0]), dtype=self.dtype)
        negative = -self.column
        for lo in range(0, len(rows), SUB_ROWS):
            np.multiply(
                self.ky_t(rows[lo : lo + SUB_ROWS]).T, negative, out=out[lo : lo + SUB_ROWS]
            )
        coo = sp.coo_matrix(x_rows)
        out[coo.row, coo.col] += coo.data.astype(self.dtype)
        return out.astype(np.float32, copy=False)

    def solution(self) -> Factored:
        """The same B in ``Factored`` form (for ``row``, saving)."""
        return self.spectrum.solution(self.shift)


class CholeskyScores(ShiftScores):
    """``ShiftScores`` for one diagonal regulariser ``lam`` without a spectrum (an EDLAE
    trial): ``Y = X diagMat(lam**-1/2)``, shift 1, ``K = (YY' + I)^-1`` by one users x users
    Cholesky inverse and ``diag(P) = s**2 (1 - diag(Y'KY))`` read from ``K Y`` at Y's
    non-zeros: ``users**3 + users x nnz`` flops instead of a fit's ``users**2 x items`` and
    its scoring's ``rows x users x items``."""

    def __init__(self, x: sp.csr_matrix, lam: np.ndarray):
        self.x, self.lam = x, np.asarray(lam, dtype=np.float64)
        if np.any(self.lam <= 0):
            raise ValueError("every diagonal regulariser must be > 0")
        self.dtype, self.shift = np.dtype(np.float64), 1.0
        scale = self.lam**-0.5
        y = sp.csr_matrix(x, dtype=np.float64) @ sp.diags(scale)
        k = (y @ y.T).toarray()
        k[np.diag_indices_from(k)] += 1.0
        self._k = spd_inverse(k)
        self.yt = sp.csr_matrix(y.T)
        self._ky_t = np.asarray(self.yt @ self._k)  # (K Y)' : items x users
        inner = np.asarray(self.yt.multiply(self._ky_t).sum(axis=1)).ravel()
        self.column = scale / (scale**2 * (1.0 - inner))

    def ky_t(self, rows: np.ndarray) -> np.ndarray:
        return self._ky_t[:, rows]

    def solution(self) -> Factored:
        return cholesky_solution(self.x, self.lam)


class Factored:
    """``B = I - P diagMat(1 / diag(P))`` with ``P = S (I / shift + A diag(c) A') S``, S =
    diagMat(scale): O(items x rank) memory, never items x items.

    ``x B = x - (x P) / diag(P)``; ``A`` and ``c`` come from a ``Spectrum`` (any shift) or from
    one Cholesky factorisation (``cholesky_solution``, one shift).
    """

    def __init__(self, scale: np.ndarray, a: np.ndarray, c: np.ndarray, shift: float):
        self.scale, self.a, self.shift = scale, a, float(shift)
        self.c = np.asarray(c, dtype=np.float64)
        inner = np.empty(len(a))
        for lo in range(0, len(a), 4096):  # sum_k a_ik^2 c_k, in blocks (no items x rank copy)
            block = a[lo : lo + 4096].astype(np.float64)
            inner[lo : lo + 4096] = (block * block) @ self.c
        self.p_diag = scale**2 * (1.0 / shift + inner)

    def scores(self, x_rows: sp.csr_matrix) -> np.ndarray:
        """``x B`` for the users ``x_rows`` (rows x items, float32)."""
        dtype = self.a.dtype
        xs = sp.csr_matrix(x_rows, dtype=dtype) @ sp.diags(self.scale.astype(dtype))
        xp = (np.asarray(xs @ self.a) * self.c.astype(dtype)) @ self.a.T
        xp += xs.toarray() / dtype.type(self.shift)
        xp *= self.scale.astype(dtype)
        x = x_rows.toarray().astype(dtype)
        return (x - xp / self.p_diag.astype(dtype)).astype(np.float32)

    def row(self, i: int) -> np.ndarray:
        """Row ``i`` of B: how much item i contributes to every item's score."""
        p = ((self.a[i] * self.c) @ self.a.T).astype(np.float64)
        p[i] += 1.0 / self.shift
        p *= self.scale[i] * self.scale
        out = -p / self.p_diag
        out[i] = 0.0
        return out.astype(np.float32)

    def state(self) -> dict[str, np.ndarray]:
        return {"f_scale": self.scale, "f_a": self.a, "f_c": self.c,
                "f_shift": np.array([self.shift])}  # fmt: skip

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> Factored:
        return cls(state["f_scale"], state["f_a"], state["f_c"], float(state["f_shift"][0]))


def cholesky_solution(x: sp.csr_matrix, lam: np.ndarray, dtype=np.float32) -> Factored:
    """Factored B for fewer users than items from one users x users Cholesky factorisation.

    With ``Y = X diagMat(lam**-1/2)`` and ``YY' + I = LL'``: ``(Y'Y + I)^-1 = I - A A'``,
    ``A = (L^-1 Y)'`` (Woodbury), i.e. shift 1 and every coefficient -1.
    """
    scale = np.asarray(lam, dtype=np.float64) ** -0.5
    y = sp.csr_matrix(x, dtype=np.float64) @ sp.diags(scale)
    k = (y @ y.T).toarray()
    k[np.diag_indices_from(k)] += 1.0
    low = sla.cholesky(k, lower=True, overwrite_a=True, check_finite=False)
    a = sla.solve_triangular(low, y.toarray(), lower=True, check_finite=False).T
    return Factored(scale, np.ascontiguousarray(a, dtype=dtype), -np.ones(len(k)), 1.0)


def ridge_weights(x: sp.csr_matrix, lam: np.ndarray, dtype=np.float32) -> np.ndarray:
    """``B = I - P diagMat(1/diag(P))``, ``P = (X'X + diagMat(lam))^-1``: the cheaper route.

    Fewer users than items: the Woodbury form through a users x users eigendecomposition.
    Otherwise a Cholesky inverse of the items x items matrix (LAPACK potrf/potri).
    """
    lam = np.asarray(lam, dtype=np.float64)
    if np.any(lam <= 0):
        raise ValueError("every diagonal regulariser must be > 0")
    if x.shape[0] < x.shape[1]:
        solution = cholesky_solution(x, lam, np.float64)
        b = (solution.a * solution.c) @ solution.a.T
        b[np.diag_indices_from(b)] += 1.0
        b *= solution.scale[:, None] * solution.scale[None, :]
        b /= -np.diag(b).copy()[None, :]
        np.fill_diagonal(b, 0.0)
        return b.astype(dtype)
    gram = (sp.csr_matrix(x, dtype=np.float64).T @ x).toarray().astype(dtype)
    gram[np.diag_indices_from(gram)] += lam.astype(dtype)
    p = spd_inverse(gram)
    p /= -np.diag(p).copy()[None, :]
    np.fill_diagonal(p, 0.0)
    return p


def spd_inverse(a: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix, in place where LAPACK allows."""
    potrf, potri = sla.get_lapack_funcs(("potrf", "potri"), (a,))
    c, info = potrf(a, lower=False, overwrite_a=True, clean=False)
    if info != 0:
        raise np.linalg.LinAlgError(f"matrix is not positive definite (potrf info={info})")
    inv, info = potri(c, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"inverse failed (potri info={info})")
    # potri fills the upper triangle; mirror it block by block (no n x n index arrays)
    step = 1024
    for lo in range(0, len(inv), step):
        hi = min(lo + step, len(inv))
        inv[lo:hi, :lo] = inv[:lo, lo:hi].T
        block = inv[lo:hi, lo:hi]
        inv[lo:hi, lo:hi] = np.triu(block) + np.triu(block, 1).T
    return inv
