"""Compiled loops of the batched rule agents (numba): candidates, attribute counts, top items.

The entropies themselves are computed by numpy's :func:`~recoworld.envs.crs_stats.binary_entropy`
over the whole batch in one call, so every floating-point value equals the single-session path's
bit for bit; the loops here count and compare integers.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

I8 = npt.NDArray[np.int8]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
F64 = npt.NDArray[np.float64]


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def candidates_from_words(words: U64, rows: I64, out: I64) -> tuple[I64, I64]:
    """Candidate ids of each row of a 0/1 int8 mask viewed as 8-byte words (zero words skipped).

    Returns ``(indptr, out)``; ``out`` is grown (reallocated) when it is too small.
    """
    indptr = np.zeros(rows.size + 1, dtype=np.int64)
    n = 0
    for j in range(rows.size):
        r = rows[j]
        for w in range(words.shape[1]):
            x = words[r, w]
            if x != 0:
                for b in range(8):
                    if (x >> np.uint64(8 * b)) & np.uint64(0xFF):
                        if n == out.size:
                            grown = np.empty(2 * out.size + 1024, dtype=np.int64)
                            grown[:n] = out[:n]
                            out = grown
                        out[n] = 8 * w + b
                        n += 1
        indptr[j + 1] = n
    return indptr, out


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def candidates_from_bytes(mask: I8, rows: I64, out: I64) -> tuple[I64, I64]:
    """Candidate ids of each row of a 0/1 int8 mask (any row length)."""
    indptr = np.zeros(rows.size + 1, dtype=np.int64)
    n = 0
    for j in range(rows.size):
        r = rows[j]
        for v in range(mask.shape[1]):
            if mask[r, v] != 0:
                if n == out.size:
                    grown = np.empty(2 * out.size + 1024, dtype=np.int64)
                    grown[:n] = out[:n]
                    out = grown
                out[n] = v
                n += 1
        indptr[j + 1] = n
    return indptr, out


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def attribute_counts(
    indptr: I64, cand: I64, item_indptr: I64, item_attrs: I32, n_attributes: int, at_most: int
) -> tuple[I64, I64, I64]:
    """Per row, the attributes its candidates hold (increasing) and how many hold each.

    Returns ``(ptr, attrs, counts)``; rows with at most ``at_most`` candidates hold none.
    """
    counts = np.zeros(n_attributes, dtype=np.int64)
    touched = np.empty(n_attributes, dtype=np.int64)
    n_rows = indptr.size - 1
    ptr = np.zeros(n_rows + 1, dtype=np.int64)
    size = 1024
    attrs = np.empty(size, dtype=np.int64)
    held = np.empty(size, dtype=np.int64)
    k = 0
    for j in range(n_rows):
        nt = 0
        if indptr[j + 1] - indptr[j] <= at_most:
            ptr[j + 1] = k
            continue
        for i in range(indptr[j], indptr[j + 1]):
            v = cand[i]
            for e in range(item_indptr[v], item_indptr[v + 1]):
                a = item_attrs[e]
                if counts[a] == 0:
                    touched[nt] = a
                    nt += 1
                counts[a] += 1
        if k + nt > size:
            size = 2 * (k + nt)
            grown_a = np.empty(size, dtype=np.int64)
            grown_h = np.empty(size, dtype=np.int64)
            grown_a[:k] = attrs[:k]
            grown_h[:k] = held[:k]
            attrs = grown_a
            held = grown_h
        touched[:nt].sort()
        for t in range(nt):
            a = touched[t]
            attrs[k] = a
            held[k] = counts[a]
            counts[a] = 0
            k += 1
        ptr[j + 1] = k
    return ptr, attrs[:k], held[:k]


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def max_entropy_parents(
    rows: I64,
    ptr: I64,
    attrs: I64,
    entropy: F64,
    accepted: I8,
    asked: I8,
    pc_indptr: I64,
    pc_children: I32,
    n_attributes: int,
) -> I64:
    """Per row, the reachable parent of largest summed child entropy (first on ties), or -1.

    A parent's entropy is the sum of its children's in taxonomy order (as a CSR product sums);
    it is reachable when a child is held by a candidate and not accepted, and it was not asked.
    -1 when no reachable parent has positive entropy.
    """
    n_par = pc_indptr.size - 1
    h = np.zeros(n_attributes, dtype=np.float64)
    held = np.zeros(n_attributes, dtype=np.bool_)
    out = np.full(rows.size, -1, dtype=np.int64)
    for j in range(rows.size):
        s = rows[j]
        for k in range(ptr[j], ptr[j + 1]):
            h[attrs[k]] = entropy[k]
            held[attrs[k]] = accepted[s, attrs[k]] == 0
        best = -1
        best_h = -np.inf
        for p in range(n_par):
            total = 0.0
            reach = False
            for c in range(pc_indptr[p], pc_indptr[p + 1]):
                total += h[pc_children[c]]
                reach = reach or held[pc_children[c]]
            if reach and asked[s, p] == 0 and total > best_h:
                best_h = total
                best = p
        if best >= 0 and best_h > 0.0:
            out[j] = best
        for k in range(ptr[j], ptr[j + 1]):
            h[attrs[k]] = 0.0
            held[attrs[k]] = False
    return out


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def reachable_questions(
    rows: I64,
    ptr: I64,
    attrs: I64,
    accepted: I8,
    asked: I8,
    pc_indptr: I64,
    pc_children: I32,
    enumerated: bool,
    n_attributes: int,
) -> tuple[I64, I64]:
    """Per row, the reachable questions in increasing id: ``(qptr, questions)``."""
    qptr = np.zeros(rows.size + 1, dtype=np.int64)
    out = np.empty(max(attrs.size, 1), dtype=np.int64)
    held = np.zeros(n_attributes, dtype=np.bool_)
    n = 0
    for j in range(rows.size):
        s = rows[j]
        if not enumerated:
            for k in range(ptr[j], ptr[j + 1]):
                a = attrs[k]
                if accepted[s, a] == 0 and asked[s, a] == 0:
                    out[n] = a
                    n += 1
        else:
            for k in range(ptr[j], ptr[j + 1]):
                held[attrs[k]] = accepted[s, attrs[k]] == 0
            for p in range(pc_indptr.size - 1):
                reach = False
                for c in range(pc_indptr[p], pc_indptr[p + 1]):
                    reach = reach or held[pc_children[c]]
                if reach and asked[s, p] == 0:
                    if n == out.size:
                        grown = np.empty(2 * out.size, dtype=np.int64)
                        grown[:n] = out[:n]
                        out = grown
                    out[n] = p
                    n += 1
            for k in range(ptr[j], ptr[j + 1]):
                held[attrs[k]] = False
        qptr[j + 1] = n
    return qptr, out[:n]


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def uniform_pick(qptr: I64, questions: I64, draws: npt.NDArray[np.float64], n_questions: int) -> I64:
    """Per row, the flat action ``Generator.choice(p=uniform over questions + recommend)`` takes.

    Rows with at least one reachable question consume the next of ``draws`` in order; the
    cumulative sums and their normalisation repeat numpy's ``choice`` operation by operation.
    """
    out = np.full(qptr.size - 1, n_questions, dtype=np.int64)
    d = 0
    for j in range(qptr.size - 1):
        k = qptr[j + 1] - qptr[j]
        if k == 0:
            continue
        u = draws[d]
        d += 1
        p = 1.0 / (k + 1)
        total = 0.0
        for _ in range(k + 1):
            total += p
        running = 0.0
        for i in range(k + 1):
            running += p
            if running / total > u:
                if i < k:
                    out[j] = questions[qptr[j] + i]
                break
    return out


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def top_by_score(indptr: I64, cand: I64, sel: I64, scores: F64, k: int) -> I64:
    """For rows ``sel``, the ``k`` best candidates by score, best first, ties to the smaller id.

    Rows with fewer than ``k`` candidates are padded by repeating their last one.
    """
    out = np.zeros((sel.size, k), dtype=np.int64)
    best = np.empty(k, dtype=np.float64)
    for j in range(sel.size):
        n = 0
        for i in range(indptr[sel[j]], indptr[sel[j] + 1]):
            v = cand[i]
            sv = scores[v]
            if n == k and not sv > best[k - 1]:
                continue
            pos = n if n < k else k - 1
            while pos > 0 and sv > best[pos - 1]:
                best[pos] = best[pos - 1]
                out[j, pos] = out[j, pos - 1]
                pos -= 1
            best[pos] = sv
            out[j, pos] = v
            if n < k:
                n += 1
        for i in range(n, k):  # padded by repeating the last item, as a single action is
            out[j, i] = out[j, n - 1] if n else 0
    return out


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def gather_lists(lists: I32, counts: I64, rows: I64) -> tuple[I64, I64]:
    """The padded per-slot lists ``lists[s, :counts[s]]`` of ``rows`` as CSR ``(indptr, ids)``."""
    indptr = np.zeros(rows.size + 1, dtype=np.int64)
    for j in range(rows.size):
        indptr[j + 1] = indptr[j] + counts[rows[j]]
    out = np.empty(indptr[-1], dtype=np.int64)
    for j in range(rows.size):
        s = rows[j]
        base = indptr[j]
        for i in range(counts[s]):
            out[base + i] = lists[s, i]
    return indptr, out


RECOMMEND_FLAG = -1
DECIDE_FLAG = -2


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def max_entropy_cached(
    indptr: I64,
    cand: I64,
    rows: I64,
    item_indptr: I64,
    item_attrs: I32,
    accepted: I8,
    asked: I8,
    n_attributes: int,
    at_most: int,
    cache_n: I64,
    cache_cand: I64,
    cache_rank: I64,
    cache_len: I64,
    cache_complete: npt.NDArray[np.bool_],
) -> tuple[I64, I64, I64, I64, npt.NDArray[np.bool_], I64, I64, I64]:
    """Max-entropy choice per row, reusing the ranking of an unchanged candidate set.

    A row whose candidate list equals the one cached for its slot (a declined question leaves
    the candidates as they were) takes the first cached attribute neither asked nor accepted:
    the cache ranks, by entropy then id, every attribute of the top ``min(c, n - c)`` levels that
    fit in ``cache_rank`` (whole levels only, so the order is exact). Other rows count afresh.
    For row ``j`` with ``n`` candidates, an attribute held by ``c`` of them (``0 < c < n``, not
    accepted, not asked) has entropy ``H(c / n)``, which grows with ``min(c, n - c)``: such a row
    gets ``flag`` -2, ``best`` (the largest ``min(c, n - c)``), ``low`` (the smallest attribute
    with ``c == best``, or -1) and ``high`` (the smallest with ``c == n - best``, or -1), and the
    caller compares the two entropies as floats (they can differ in the last bit). They hand back their new ranking's entries
    ``(rptr, rattr, rcount)`` for :func:`store_ranking` (``recounted`` marks them). ``flag`` is
    the attribute to ask, or -1 to recommend.
    """
    n_rows = rows.size
    flag = np.full(n_rows, RECOMMEND_FLAG, dtype=np.int64)
    best_out = np.zeros(n_rows, dtype=np.int64)
    low_out = np.full(n_rows, -1, dtype=np.int64)
    high_out = np.full(n_rows, -1, dtype=np.int64)
    recounted = np.zeros(n_rows, dtype=np.bool_)
    cap = cache_rank.shape[1]
    rptr = np.zeros(n_rows + 1, dtype=np.int64)
    rattr = np.empty(n_rows * cap, dtype=np.int64)
    rcount = np.empty(n_rows * cap, dtype=np.int64)
    counts = np.zeros(n_attributes, dtype=np.int32)
    touched = np.empty(n_attributes, dtype=np.int32)
    max_n = 0
    for j in range(n_rows):
        max_n = max(max_n, indptr[j + 1] - indptr[j])
    hist = np.zeros(max_n // 2 + 2, dtype=np.int64)
    k = 0
    for j in range(n_rows):
        rptr[j + 1] = k
        s = rows[j]
        lo = indptr[j]
        n = indptr[j + 1] - lo
        if n <= at_most:
            continue
        hit = cache_n[s] == n
        if hit:
            for i in range(n):
                if cache_cand[s, i] != cand[lo + i]:
                    hit = False
                    break
        if hit:
            found = False
            for t in range(cache_len[s]):
                a = cache_rank[s, t]
                if accepted[s, a] == 0 and asked[s, a] == 0:
                    flag[j] = a
                    found = True
                    break
            if found or cache_complete[s]:
                continue  # the ranking answered (or holds every attribute: recommend)
        nt = 0
        for i in range(lo, lo + n):
            v = cand[i]
            for e in range(item_indptr[v], item_indptr[v + 1]):
                a = item_attrs[e]
                if counts[a] == 0:
                    touched[nt] = a
                    nt += 1
                counts[a] += 1
        best = 0
        low = -1
        high = -1
        top = 0
        for t in range(nt):
            a = touched[t]
            c = counts[a]
            if c >= n:
                continue
            m = min(c, n - c)
            hist[m] += 1
            top = max(top, m)
            if accepted[s, a] != 0 or asked[s, a] != 0:
                continue
            if m > best:
                best = m
                low = -1
                high = -1
            if m == best:
                if c == best and (low < 0 or a < low):
                    low = a
                if c == n - best and (high < 0 or a < high):
                    high = a
        if best > 0:
            flag[j] = DECIDE_FLAG
            best_out[j] = best
            low_out[j] = low
            high_out[j] = high
        # whole levels from the top while they fit in the cache
        level = top + 1
        kept = 0
        while level > 1 and kept + hist[level - 1] <= cap:
            level -= 1
            kept += hist[level]
        for t in range(nt):
            a = touched[t]
            c = counts[a]
            counts[a] = 0
            if c >= n:
                continue
            m = min(c, n - c)
            hist[m] = 0
            if m >= level:
                rattr[k] = a
                rcount[k] = c
                k += 1
        rptr[j + 1] = k
        recounted[j] = True
        cache_n[s] = n
        for i in range(n):
            cache_cand[s, i] = cand[lo + i]
        cache_len[s] = 0
        cache_complete[s] = level <= 1
    return flag, best_out, low_out, high_out, recounted, rptr, rattr[:k], rcount[:k]


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def store_ranking(
    rows: I64,
    recounted: npt.NDArray[np.bool_],
    rptr: I64,
    rattr: I64,
    entropy: F64,
    cache_rank: I64,
    cache_len: I64,
) -> None:
    """Cache each recounted row's entries ranked by entropy (descending), then id (ascending)."""
    cap = cache_rank.shape[1]
    hs = np.empty(cap, dtype=np.float64)
    ids = np.empty(cap, dtype=np.int64)
    for j in range(rows.size):
        if not recounted[j]:
            continue
        n = 0
        for e in range(rptr[j], rptr[j + 1]):
            a = rattr[e]
            h = entropy[e]
            pos = n
            while pos > 0 and (hs[pos - 1] < h or (hs[pos - 1] == h and ids[pos - 1] > a)):
                hs[pos] = hs[pos - 1]
                ids[pos] = ids[pos - 1]
                pos -= 1
            hs[pos] = h
            ids[pos] = a
            n += 1
        s = rows[j]
        for i in range(n):
            cache_rank[s, i] = ids[i]
        cache_len[s] = n
