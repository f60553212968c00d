"""Compiled per-slot loops of the batched conversational env (numba).

State of slot ``s``: its candidate items as a sorted list ``cand[s, :n_cand[s]]`` and as the
observation's mask ``cmask[s]``; accepted / rejected attributes and asked questions as the
observation's masks plus lists (so a reset clears only what the session set). Every update touches
only the entries it changes: filtering on an accepted attribute costs one bit test per candidate
in the attribute's row of ``attribute_bits`` (a binary search per candidate where those rows are
not built), a reset the old and the new candidates.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt

I8 = npt.NDArray[np.int8]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]
U64 = npt.NDArray[np.uint64]

OK = 0
BAD_KIND = 1
BAD_QUESTION = 2
BAD_ITEM = 3


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def validate(
    rows: I64, kind: I64, question: I64, items: I64, n_questions: int, n_items: int
) -> tuple[int, int]:
    """First bad action among ``rows``: ``(code, row)``; ``(OK, -1)`` when all are valid."""
    for r in rows:
        k = kind[r]
        if k == 0:
            q = question[r]
            if q < 0 or q >= n_questions:
                return BAD_QUESTION, r
        elif k == 1:
            for j in range(items.shape[1]):
                v = items[r, j]
                if v < 0 or v >= n_items:
                    return BAD_ITEM, r
        else:
            return BAD_KIND, r
    return OK, -1


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def attribute_bits(attr_indptr: I64, attr_items: I32, n_items: int) -> U64:
    """Each attribute's holders as a row of bits: item ``v`` is bit ``v % 64`` of word ``v // 64``."""
    n_attributes = attr_indptr.size - 1
    out = np.zeros((n_attributes, (n_items + 63) >> 6), dtype=np.uint64)
    for a in range(n_attributes):
        for p in range(attr_indptr[a], attr_indptr[a + 1]):
            v = attr_items[p]
            out[a, v >> 6] |= np.uint64(1) << np.uint64(v & 63)
    return out


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def first_repeat(items: I64, kind: I64) -> int:
    """First recommending row listing an item twice (end padding by its last id aside), or -1."""
    k = items.shape[1]
    for r in range(items.shape[0]):
        if kind[r] != 1:
            continue
        head = k
        while head > 1 and items[r, head - 2] == items[r, k - 1]:
            head -= 1  # the trailing run of the last id counts once
        for i in range(1, head):
            v = items[r, i]
            for j in range(i):
                if items[r, j] == v:
                    return r
    return -1


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def distinct_items(rows: I64, items: I64) -> tuple[I64, I64]:
    """Each row's items with repeats removed (first occurrences, in order), padded with -1."""
    k = items.shape[1]
    out = np.full((rows.size, k), -1, dtype=np.int64)
    lengths = np.zeros(rows.size, dtype=np.int64)
    for j in range(rows.size):
        n = 0
        for i in range(k):
            v = items[rows[j], i]
            seen = False
            for t in range(n):
                if out[j, t] == v:
                    seen = True
                    break
            if not seen:
                out[j, n] = v
                n += 1
        lengths[j] = n
    return out, lengths


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def reset_slots(
    slots: I64,
    openings: I64,
    attr_indptr: I64,
    attr_items: I32,
    cand: I32,
    n_cand: I64,
    cmask: I8,
    acc: I8,
    acc_list: I32,
    n_acc: I64,
    rej: I8,
    rej_list: I32,
    n_rej: I64,
    asked: I8,
    asked_list: I32,
    n_asked: I64,
    turn: I64,
) -> None:
    """Clear what each slot's last session set, then open the new one with its opening attribute."""
    for j in range(slots.size):
        s = slots[j]
        for i in range(n_cand[s]):
            cmask[s, cand[s, i]] = 0
        for i in range(n_acc[s]):
            acc[s, acc_list[s, i]] = 0
        for i in range(n_rej[s]):
            rej[s, rej_list[s, i]] = 0
        for i in range(n_asked[s]):
            asked[s, asked_list[s, i]] = 0
        a = openings[j]
        lo = attr_indptr[a]
        hi = attr_indptr[a + 1]
        for i in range(hi - lo):
            v = attr_items[lo + i]
            cand[s, i] = v
            cmask[s, v] = 1
        n_cand[s] = hi - lo
        acc[s, a] = 1
        acc_list[s, 0] = a
        n_acc[s] = 1
        n_rej[s] = 0
        n_asked[s] = 0
        turn[s] = 1


@numba.njit(cache=True, nogil=True, inline="always")  # type: ignore[misc]
def _item_holds(item_indptr: I64, item_attrs: I32, v: int, a: int) -> bool:
    lo = item_indptr[v]
    hi = item_indptr[v + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        if item_attrs[mid] < a:
            lo = mid + 1
        else:
            hi = mid
    return bool(lo < item_indptr[v + 1] and item_attrs[lo] == a)


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _filter(
    s: int,
    a: int,
    keep_holders: bool,
    cand: I32,
    n_cand: I64,
    cmask: I8,
    attr_bits: U64,
    item_indptr: I64,
    item_attrs: I32,
) -> None:
    """Keep the candidates of slot ``s`` that hold ``a`` (or that do not, ``keep_holders=False``).

    One bit test per candidate in ``attr_bits[a]`` (the holders of ``a`` as a bit row; the mask is
    written only for removed candidates); a binary search in the candidate's attribute row when
    the bit rows are not built (``attr_bits`` with no rows).
    """
    n = n_cand[s]
    keep = np.int64(1) if keep_holders else np.int64(0)
    k = np.int64(0)
    if attr_bits.shape[0] > 0:
        for i in range(n):
            v = cand[s, i]
            held = np.int64((attr_bits[a, v >> 6] >> np.uint64(v & 63)) & np.uint64(1))
            hit = 1 - (held ^ keep)
            cand[s, k] = v
            if hit == 0:
                cmask[s, v] = 0
            k += hit
    else:
        for i in range(n):
            v = cand[s, i]
            if _item_holds(item_indptr, item_attrs, v, a) == keep_holders:
                cand[s, k] = v
                k += 1
            else:
                cmask[s, v] = 0
    n_cand[s] = k


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _accept(
    s: int,
    a: int,
    cand: I32,
    n_cand: I64,
    cmask: I8,
    acc: I8,
    acc_list: I32,
    n_acc: I64,
    attr_bits: U64,
    item_indptr: I64,
    item_attrs: I32,
) -> None:
    if acc[s, a] == 0:
        acc[s, a] = 1
        acc_list[s, n_acc[s]] = a
        n_acc[s] += 1
        _filter(s, a, True, cand, n_cand, cmask, attr_bits, item_indptr, item_attrs)


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def _reject(
    s: int,
    a: int,
    acc: I8,
    rej: I8,
    rej_list: I32,
    n_rej: I64,
) -> bool:
    if rej[s, a] == 0 and acc[s, a] == 0:
        rej[s, a] = 1
        rej_list[s, n_rej[s]] = a
        n_rej[s] += 1
        return True
    return False


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def apply_asks(
    rows: I64,
    questions: I64,
    pick_ptr: I64,
    picks: I64,
    enumerated: bool,
    reject_filter: bool,
    pc_indptr: I64,
    pc_children: I32,
    cand: I32,
    n_cand: I64,
    cmask: I8,
    acc: I8,
    acc_list: I32,
    n_acc: I64,
    rej: I8,
    rej_list: I32,
    n_rej: I64,
    asked: I8,
    asked_list: I32,
    n_asked: I64,
    attr_bits: U64,
    item_indptr: I64,
    item_attrs: I32,
) -> None:
    """Apply each slot's answer: accepted attributes filter the candidates, the rest are rejected.

    Binary mode: ``picks[pick_ptr[j]:pick_ptr[j+1]]`` is ``[question]`` for a yes and empty for a
    no. Enumerated mode: the children the user picked; the parent's other children are rejected.
    With ``reject_filter`` a newly rejected attribute also removes the candidates holding it.
    """
    for j in range(rows.size):
        s = rows[j]
        q = questions[j]
        if asked[s, q] == 0:
            asked[s, q] = 1
            asked_list[s, n_asked[s]] = q
            n_asked[s] += 1
        lo = pick_ptr[j]
        hi = pick_ptr[j + 1]
        for i in range(lo, hi):
            _accept(
                s, picks[i], cand, n_cand, cmask, acc, acc_list, n_acc,
                attr_bits, item_indptr, item_attrs,
            )
        if enumerated:
            for c in range(pc_indptr[q], pc_indptr[q + 1]):
                a = pc_children[c]
                picked = False
                for i in range(lo, hi):
                    if picks[i] == a:
                        picked = True
                        break
                if not picked and _reject(s, a, acc, rej, rej_list, n_rej) and reject_filter:
                    _filter(
                        s, a, False, cand, n_cand, cmask,
                        attr_bits, item_indptr, item_attrs,
                    )
        elif hi == lo and _reject(s, q, acc, rej, rej_list, n_rej) and reject_filter:
            _filter(s, q, False, cand, n_cand, cmask, attr_bits, item_indptr, item_attrs)


@numba.njit(cache=True, nogil=True)  # type: ignore[misc]
def apply_recommendations(
    rows: I64,
    items: I64,
    lengths: I64,
    success: B,
    target: I64,
    cand: I32,
    n_cand: I64,
    cmask: I8,
) -> I64:
    """Rank of the target in each accepted list (0 if rejected); rejected lists leave the candidates."""
    rank = np.zeros(rows.size, dtype=np.int64)
    for j in range(rows.size):
        s = rows[j]
        if success[j]:
            for i in range(lengths[j]):
                if items[j, i] == target[s]:
                    rank[j] = i + 1
                    break
            continue
        dropped = 0
        for i in range(lengths[j]):
            v = items[j, i]
            if cmask[s, v] == 1:
                cmask[s, v] = 0
                dropped += 1
        if dropped:
            k = 0
            for i in range(n_cand[s]):
                v = cand[s, i]
                if cmask[s, v] == 1:
                    cand[s, k] = v
                    k += 1
            n_cand[s] = k
    return rank
