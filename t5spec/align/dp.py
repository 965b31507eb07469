"""The token-alignment dynamic program (DTW), compiled with numba, and a plain-Python reference.

Given teacher tokens ``s`` (length n) and T5 pieces ``t`` (length m)::

    f(i, j) = c(s_i, t_j) + min(f(i-1, j), f(i, j-1), f(i-1, j-1)),   f(-1, -1) = 0,
    f(-1, j) = f(i, -1) = inf,
    c(a, b) = Levenshtein(a without " ", b without "▁")

(the leading-space marker of either tokenizer is removed before comparing, exactly as the
paper's ``dist_fn``). The backtrace starts at (n-1, m-1) and, while not at (0, 0), records the
cell and steps to the neighbour with the smallest cumulative cost, preferring diagonal, then
"up" (i-1), then "left" (j-1) on ties — the tie order of the authors' ``np.argmin`` over
``[diag, up, left]``. The result is a monotone path from (0, 0) to (n-1, m-1) that covers
every teacher index and every T5 index.

Why numba (not rapidfuzz): the cost matrix is ~n·m Levenshtein distances of 1-10 character
strings, and the DTW and backtrace need compiling too. numba is already a dependency, fuses
cost matrix, DP and backtrace in one kernel over a whole batch (no per-pair Python call, no
[n, m] matrix handed back to Python), and keeps the integer arithmetic exact, so the compiled
path is bit-identical to the reference. ``rapidfuzz.process.cdist`` would add a dependency and
still leave the DP to compile. Distances are computed once per distinct (teacher, T5) string
pair of a sample (tokens repeat a lot in CoT text).

Strings enter the kernel as int32 Unicode code points with token offsets (see
:func:`encode_tokens`), so a batch is four flat arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

TEACHER_SPACE = " "
T5_SPACE = "▁"
_BIG32 = np.int32(1 << 30)  # "infinity" for the int32 cumulative costs (< 2^30 asserted)


def teacher_cost_string(token: str) -> str:
    """A teacher token as the cost function sees it (all spaces removed, like the paper)."""
    return token.replace(TEACHER_SPACE, "")


def t5_cost_string(piece: str) -> str:
    """A T5 piece as the cost function sees it (all ``▁`` removed, like the paper)."""
    return piece.replace(T5_SPACE, "")


# ----------------------------------------------------------------------------- reference


def levenshtein_py(a: str, b: str) -> int:
    """Plain-Python Levenshtein distance (unit insert/delete/substitute)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def align_reference(teacher: Sequence[str], t5: Sequence[str]) -> list[tuple[int, int]]:
    """Plain-Python DTW alignment: the monotone path as (teacher index, T5 index) pairs."""
    n, m = len(teacher), len(t5)
    if n == 0 or m == 0:
        raise ValueError("cannot align an empty token sequence")
    a = [teacher_cost_string(s) for s in teacher]
    b = [t5_cost_string(s) for s in t5]
    inf = float("inf")
    f = [[inf] * (m + 1) for _ in range(n + 1)]
    f[0][0] = 0
    for i in range(n):
        for j in range(m):
            best = min(f[i][j + 1], f[i + 1][j], f[i][j])
            f[i + 1][j + 1] = levenshtein_py(a[i], b[j]) + best
    return _backtrace_py([row[1:] for row in f[1:]], n, m)


def _backtrace_py(f: list[list[float]], n: int, m: int) -> list[tuple[int, int]]:
    inf = float("inf")
    i, j = n - 1, m - 1
    path = []
    while i > 0 or j > 0:
        path.append((i, j))
        diag = f[i - 1][j - 1] if i > 0 and j > 0 else inf
        up = f[i - 1][j] if i > 0 else inf
        left = f[i][j - 1] if j > 0 else inf
        if diag <= up and diag <= left:
            i, j = i - 1, j - 1
        elif up <= left:
            i -= 1
        else:
            j -= 1
    path.append((0, 0))
    return path[::-1]


# ----------------------------------------------------------------------------- compiled


def encode_tokens(tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Tokens → (code points int32 [sum of lengths], offsets int64 [len(tokens)+1])."""
    joined = "".join(tokens)
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.int32)
    offsets = np.zeros(len(tokens) + 1, np.int64)
    np.cumsum([len(t) for t in tokens], out=offsets[1:])
    return codes, offsets


@numba.njit(cache=True, nogil=True)
def _levenshtein(a, a0, a1, b, b0, b1, row):  # pragma: no cover - compiled
    """Two-row Levenshtein DP (fallback for teacher strings longer than 64 characters)."""
    la, lb = a1 - a0, b1 - b0
    if la == 0:
        return lb
    if lb == 0:
        return la
    for j in range(lb + 1):
        row[j] = j
    for i in range(la):
        ca = a[a0 + i]
        diag = row[0]
        row[0] = i + 1
        for j in range(lb):
            up = row[j + 1]
            best = diag + (ca != b[b0 + j])
            if up + 1 < best:
                best = up + 1
            if row[j] + 1 < best:
                best = row[j] + 1
            row[j + 1] = best
            diag = up
    return row[lb]


@numba.njit(cache=True, nogil=True)
def _peq_table(codes, off, n_chars):  # pragma: no cover - compiled
    """Myers' match masks: peq[u, c] has bit k set iff char k of string u is c (u ≤ 64 chars)."""
    n = off.shape[0] - 1
    peq = np.zeros((n, n_chars), np.uint64)
    one = np.uint64(1)
    for u in range(n):
        if off[u + 1] - off[u] <= 64:
            for k in range(off[u + 1] - off[u]):
                peq[u, codes[off[u] + k]] |= one << np.uint64(k)
    return peq


@numba.njit(cache=True, nogil=True)
def _myers(peq_row, la, b, b0, b1):  # pragma: no cover - compiled
    """Levenshtein(a, b) by Myers/Hyyrö bit-parallelism; a (1 ≤ la ≤ 64) is given by peq_row."""
    one = np.uint64(1)
    pv = ~np.uint64(0)
    mv = np.uint64(0)
    high = one << np.uint64(la - 1)
    score = la
    for k in range(b0, b1):
        eq = peq_row[b[k]]
        xv = eq | mv
        xh = (((eq & pv) + pv) ^ pv) | eq
        ph = mv | ~(xh | pv)
        mh = pv & xh
        if ph & high:
            score += 1
        elif mh & high:
            score -= 1
        ph = (ph << one) | one
        mh = mh << one
        pv = mh | ~(xv | ph)
        mv = ph & xv
    return score


@numba.njit(cache=True, nogil=True)
def _local_ids(uid, local_of, members):  # pragma: no cover - compiled
    """Batch-wide ids → dense per-sample ids (``local_of`` is scratch filled with -1)."""
    out = np.empty(uid.shape[0], np.int64)
    n = 0
    for i in range(uid.shape[0]):
        u = uid[i]
        if local_of[u] < 0:
            local_of[u] = n
            members[n] = u
            n += 1
        out[i] = local_of[u]
    for r in range(n):
        local_of[members[r]] = -1
    return out, n


@numba.njit(cache=True, nogil=True)
def _sample_costs(s_uid, t_uid, s_codes, s_off, peq, t_codes, t_off, scratch_s, scratch_t,
                  mem_s, mem_t, row, table_buf):  # pragma: no cover - compiled
    """Edit distances between the distinct strings of one sample, and per-token local ids."""
    ls, ns = _local_ids(s_uid, scratch_s, mem_s)
    lt, nt = _local_ids(t_uid, scratch_t, mem_t)
    table = table_buf[:ns, :nt]
    for a in range(ns):
        ua = mem_s[a]
        la = s_off[ua + 1] - s_off[ua]
        for c in range(nt):
            ub = mem_t[c]
            b0, b1 = t_off[ub], t_off[ub + 1]
            if la == 0:
                table[a, c] = b1 - b0
            elif la <= 64:
                table[a, c] = _myers(peq[ua], la, t_codes, b0, b1)
            else:
                table[a, c] = _levenshtein(s_codes, s_off[ua], s_off[ua + 1], t_codes, b0, b1, row)
    return ls, lt, table


@numba.njit(cache=True, nogil=True)
def _dtw_path(ls, lt, table, f, path):  # pragma: no cover - compiled
    """DTW with cost[i, j] = table[ls[i], lt[j]]; ``f`` [n+1, m+1] is scratch. Returns P."""
    n, m = ls.shape[0], lt.shape[0]
    big = _BIG32
    f[0, :] = big
    f[:, 0] = big
    f[0, 0] = 0
    for i in range(n):
        trow = table[ls[i]]
        for j in range(m):
            best = f[i, j + 1]
            left = f[i + 1, j]
            diag = f[i, j]
            if left < best:
                best = left
            if diag < best:
                best = diag
            f[i + 1, j + 1] = trow[lt[j]] + best
    f[0, 0] = big  # (0, 0) of the path is reached only by stopping there
    i, j, p = n, m, 0  # 1-based indices into f
    while i > 1 or j > 1:
        path[p, 0], path[p, 1] = i - 1, j - 1
        p += 1
        diag = f[i - 1, j - 1]
        up = f[i - 1, j]
        left = f[i, j - 1]
        if diag <= up and diag <= left:
            i -= 1
            j -= 1
        elif up <= left:
            i -= 1
        else:
            j -= 1
    path[p, 0], path[p, 1] = 0, 0
    p += 1
    path[:p] = path[:p][::-1].copy()
    return p


@numba.njit(cache=True, nogil=True)
def _align_batch(s_uid, s_tok, s_codes, s_off, t_uid, t_tok, t_codes, t_off, n_chars,
                 paths, path_start, path_len):  # pragma: no cover - compiled
    """Aligns every sample b of a batch; its tokens are s_uid[s_tok[b]:s_tok[b+1]] etc."""
    peq = _peq_table(s_codes, s_off, n_chars)
    maxlen = 1
    for u in range(t_off.shape[0] - 1):
        maxlen = max(maxlen, t_off[u + 1] - t_off[u] + 1)
    row = np.empty(maxlen, np.int64)
    n_su, n_tu = s_off.shape[0] - 1, t_off.shape[0] - 1
    scratch_s, mem_s = np.full(n_su, -1, np.int64), np.empty(n_su, np.int64)
    scratch_t, mem_t = np.full(n_tu, -1, np.int64), np.empty(n_tu, np.int64)
    max_n, max_m = 1, 1
    for b in range(s_tok.shape[0] - 1):
        max_n = max(max_n, s_tok[b + 1] - s_tok[b])
        max_m = max(max_m, t_tok[b + 1] - t_tok[b])
    table_buf = np.empty((max_n, max_m), np.int32)
    f_buf = np.empty((max_n + 1, max_m + 1), np.int32)
    for b in range(s_tok.shape[0] - 1):
        s0, s1, t0, t1 = s_tok[b], s_tok[b + 1], t_tok[b], t_tok[b + 1]
        ls, lt, table = _sample_costs(s_uid[s0:s1], t_uid[t0:t1], s_codes, s_off, peq, t_codes,
                                      t_off, scratch_s, scratch_t, mem_s, mem_t, row, table_buf)
        f = f_buf[: s1 - s0 + 1, : t1 - t0 + 1]
        start = path_start[b]
        path_len[b] = _dtw_path(ls, lt, table, f, paths[start:start + (s1 - s0) + (t1 - t0) - 1])


class _Interner:
    """Distinct strings of a batch → dense ids, normalized once per distinct string."""

    def __init__(self, normalize) -> None:
        self.ids: dict[str, int] = {}
        self.normalize = normalize

    def __call__(self, strings: Sequence[str]) -> np.ndarray:
        ids = self.ids
        local = dict.fromkeys(strings)  # the distinct strings of this sample, at C speed
        for s in local:
            local[s] = ids.setdefault(s, len(ids))
        return np.fromiter(map(local.__getitem__, strings), np.int32, len(strings))

    def encoded(self) -> tuple[np.ndarray, np.ndarray]:
        return encode_tokens([self.normalize(s) for s in self.ids])


def align_batch(
    pairs: Sequence[tuple[Sequence[str], Sequence[str]]],
) -> list[np.ndarray]:
    """Compiled DTW over a batch of (teacher tokens, T5 pieces) pairs.

    Returns, per pair, the path as int32 [P, 2] (teacher index, T5 index), P ≤ n + m - 1,
    identical to :func:`align_reference`. Each sample's costs are computed once per distinct
    (teacher string, T5 string) pair, with Myers' bit-parallel edit distance over a per-batch
    dense alphabet (teacher strings up to 64 characters; longer ones use the plain DP).
    """
    if not pairs:
        return []
    s_int, t_int = _Interner(teacher_cost_string), _Interner(t5_cost_string)
    s_uid, t_uid = [], []
    s_tok, t_tok = [0], [0]
    for teacher, t5 in pairs:
        if len(teacher) == 0 or len(t5) == 0:
            raise ValueError("cannot align an empty token sequence")
        s_uid.append(s_int(teacher))
        t_uid.append(t_int(t5))
        s_tok.append(s_tok[-1] + len(teacher))
        t_tok.append(t_tok[-1] + len(t5))
    (s_codes, s_off), (t_codes, t_off) = s_int.encoded(), t_int.encoded()
    longest = max(int(np.diff(s_off).max(initial=0)), int(np.diff(t_off).max(initial=0)), 1)
    if longest * int((np.diff(s_tok) + np.diff(t_tok)).max()) >= 1 << 29:
        raise ValueError("token sequences too long for int32 alignment costs")
    chars, dense = np.unique(np.concatenate([s_codes, t_codes]), return_inverse=True)
    dense = dense.astype(np.int64)
    s_tok_a, t_tok_a = np.asarray(s_tok, np.int64), np.asarray(t_tok, np.int64)
    path_start = np.zeros(len(pairs) + 1, np.int64)
    np.cumsum(np.diff(s_tok_a) + np.diff(t_tok_a) - 1, out=path_start[1:])
    paths = np.empty((path_start[-1], 2), np.int32)
    path_len = np.zeros(len(pairs), np.int64)
    _align_batch(np.concatenate(s_uid), s_tok_a, dense[: len(s_codes)], s_off,
                 np.concatenate(t_uid), t_tok_a, dense[len(s_codes):], t_off, max(len(chars), 1),
                 paths, path_start, path_len)
    return [paths[path_start[b]:path_start[b] + path_len[b]] for b in range(len(pairs))]


def align(teacher: Sequence[str], t5: Sequence[str]) -> np.ndarray:
    """Compiled DTW of one pair: int32 [P, 2] path (see :func:`align_batch`)."""
    return align_batch([(teacher, t5)])[0]
