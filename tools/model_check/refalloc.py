"""An independent reading of DOMAIN.md's allocation rule, in exact fractions, written apart
from the Rust engine. `python3 refalloc.py` checks it against the shared allocation vectors."""
from fractions import Fraction


def cents(text):
    neg = text.startswith('-')
    t = text.lstrip('-')
    if '.' in t:
        a, b = t.split('.')
        b = (b + '00')[:2]
    else:
        a, b = t, '00'
    v = int(a) * 100 + int(b)
    return -v if neg else v


def largest_remainder(exact, total, order_key):
    """exact: dict key -> Fraction; returns dict key -> int summing to total."""
    floors = {k: (v.numerator // v.denominator) for k, v in exact.items()}
    missing = total - sum(floors.values())
    ranked = sorted(exact.keys(), key=lambda k: (-(exact[k] - floors[k]),) + order_key(k))
    out = dict(floors)
    for k in ranked[:missing]:
        out[k] += 1
    assert sum(out.values()) == total, (exact, total, out)
    return out


def split_month(cost, commitments, cap_remaining):
    """commitments: list of dicts with key, basis, monthly (cents) or percent (Fraction), order.
    cap_remaining: dict key -> cents or None. Returns (lines dict key->cents, uncovered)."""
    fixed = [c for c in commitments if c['basis'] == 'fixed']
    shares = [c for c in commitments if c['basis'] == 'share']
    asks = {}
    for c in fixed:
        ask = c['monthly']
        if cap_remaining.get(c['key']) is not None:
            ask = min(ask, max(cap_remaining[c['key']], 0))
        asks[c['key']] = ask
    lines = {}
    total_asks = sum(asks.values())
    order = {c['key']: c['order'] for c in commitments}
    if total_asks <= cost:
        lines.update(asks)
    else:
        exact = {k: Fraction(cost * a, total_asks) for k, a in asks.items()}
        lines.update(largest_remainder(exact, cost, lambda k: (0, -exact[k], order[k])))
    rest = cost - sum(lines.values())
    if shares:
        exact = {c['key']: Fraction(rest) * c['percent'] / 100 for c in shares}
        own = Fraction(rest) * (100 - sum(c['percent'] for c in shares)) / 100
        exact['__own__'] = own
        order['__own__'] = 10**9

        def key(k):
            return (1 if k == '__own__' else 0, -exact[k], order[k])
        parts = largest_remainder(exact, rest, key)
        for c in shares:
            part = parts[c['key']]
            cap = cap_remaining.get(c['key'])
            if cap is not None:
                part = min(part, max(cap, 0))
            lines[c['key']] = part
    uncovered = cost - sum(lines.values())
    return lines, uncovered


def months_between(a, b):
    y, m = map(int, a.split('-'))
    out = []
    while f"{y:04d}-{m:02d}" <= b:
        out.append(f"{y:04d}-{m:02d}")
        m += 1
        if m == 13:
            y, m = y + 1, 1
    return out


def check_vectors(path):
    import json
    data = json.load(open(path))
    bad = 0
    for case in data['allocation']:
        cs = []
        caps = {}
        for c in case['commitments']:
            d = {'key': c['key'], 'basis': c['basis'], 'order': c['created_order'],
                 'start': c['start_month'], 'end': c['end_month']}
            if c['basis'] == 'fixed':
                d['monthly'] = cents(c['monthly_amount'])
            else:
                d['percent'] = Fraction(c['percent'])
            caps[c['key']] = cents(c['cap']) if c.get('cap') else None
            cs.append(d)
        for month in sorted(case['costs']):
            inforce = [c for c in cs if c['start'] <= month <= c['end']]
            lines, unc = split_month(cents(case['costs'][month]), inforce,
                                     {c['key']: caps[c['key']] for c in inforce})
            for k, v in lines.items():
                if caps[k] is not None:
                    caps[k] -= v
            exp = case['expected'][month]
            got = {k: v for k, v in lines.items() if v != 0 or k in exp['lines']}
            want = {k: cents(v) for k, v in exp['lines'].items()}
            gotc = {k: got.get(k, 0) for k in want}
            if gotc != want or unc != cents(exp['uncovered']) or any(v for k, v in got.items() if k not in want):
                bad += 1
                print('MISMATCH', case['name'], month, got, unc, exp)
    print('vectors checked', len(data['allocation']), 'bad', bad)


if __name__ == '__main__':
    import os
    check_vectors(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               '..', '..', 'tests', 'data', 'allocation-vectors.json'))
