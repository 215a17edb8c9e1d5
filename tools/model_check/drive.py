"""Model check: random operations through a running server's API, each allocation run
compared to the cent with refalloc.py (an independent reading of DOMAIN.md's rule), and the
ledger's invariants checked throughout.

    python3 tools/model_check/drive.py --base http://127.0.0.1:8080 --secret SECRET [--seed 1]
        [--steps 300] [--threads 1] [--bin target/release/portage-ledger]

The server must run with PORTAGE_JWT_SECRET=SECRET; the script mints its tokens with the
binary's `token` command and works on an employer of its own. With --threads above 1 the
operations race on that employer and only the invariants are checked (which run saw which
state is then unknowable). Exits non-zero at the first 5xx, non-problem error, allocation
mismatch or broken invariant. Python 3 standard library only.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from fractions import Fraction

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from refalloc import cents, split_month  # noqa: E402

MONTHS = [f'2026-{m:02d}' for m in range(1, 13)]


class Api:
    def __init__(self, base, binary, secret):
        self.base, self.binary, self.secret = base, binary, secret

    def token(self, role, **ids):
        args = [self.binary, 'token', '--role', role]
        for name, value in ids.items():
            args += ['--' + name.replace('_', '-'), value]
        env = {**os.environ, 'PORTAGE_JWT_SECRET': self.secret}
        return subprocess.check_output(args, env=env).decode().strip()

    def call(self, method, path, token, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header('Authorization', 'Bearer ' + token)
        if data is not None:
            request.add_header('Content-Type', 'application/json')
        try:
            with urllib.request.urlopen(request) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            text = error.read()
            kind = error.headers.get('content-type')
            if error.code >= 500 or kind != 'application/problem+json':
                sys.exit(f'BAD ANSWER {method} {path} {body} -> {error.code} {kind} {text[:300]!r}')
            return error.code, json.loads(text)

    def all(self, path, token):
        items, cursor = [], None
        while True:
            separator = '&' if '?' in path else '?'
            page = path + separator + 'limit=1000' + (f'&cursor={cursor}' if cursor else '')
            status, body = self.call('GET', page, token)
            assert status == 200, (path, status, body)
            items += body['items']
            cursor = body['next_cursor']
            if not cursor:
                return items


class Books:
    """One employer, four funders, three posts, and what was created on them."""

    def __init__(self, api):
        self.api = api
        admin = api.token('admin')
        _, employer = api.call('POST', '/v1/employers', admin, {'name': 'Model check', 'kind': 'association'})
        self.employer = employer['id']
        self.token = api.token('employer', employer_id=self.employer)
        self.funders = []
        for i, kind in enumerate(['state', 'social_landlord', 'social_landlord', 'municipality']):
            _, funder = api.call('POST', '/v1/funders', admin, {'name': f'Funder {i}', 'kind': kind})
            self.funders.append(funder['id'])
        self.posts = []
        for i in range(3):
            _, post = api.call('POST', '/v1/posts', self.token, {
                'employer_id': self.employer, 'title': f'Post {i}', 'territory': 'QP', 'activity': 'housing',
                'fte': '1.00', 'start_month': '2026-01', 'monthly_budget': '3000.00'})
            self.posts.append(post['id'])
        self.costs, self.calls, self.commitments = [], [], []
        self.stats = {}
        self.lock = threading.Lock()

    def check_post(self, post, from_month):
        """Every allocated month from `from_month` on, recomputed from the costs and commitments."""
        api, token = self.api, self.token
        view = sorted(api.all(f'/v1/posts/{post}/allocations', token), key=lambda i: i['month'])
        commitments = sorted(api.all(f'/v1/commitments?post_id={post}', token),
                             key=lambda c: (c['created_at'], c['id']))
        cost_of = {}
        for cost in api.all(f'/v1/posts/{post}/costs', token):
            cost_of[cost['month']] = cost_of.get(cost['month'], 0) + cents(cost['amount'])
        used = {c['id']: 0 for c in commitments}
        for item in view:
            month = item['month']
            stored = {line['commitment_id']: cents(line['amount']) for line in item['lines']}
            if month >= from_month:
                in_force, caps = [], {}
                for order, c in enumerate(commitments):
                    if c['start_month'] <= month <= c['end_month']:
                        entry = {'key': c['id'], 'basis': c['basis'], 'order': order}
                        if c['basis'] == 'fixed':
                            entry['monthly'] = cents(c['monthly_amount'])
                        else:
                            entry['percent'] = Fraction(c['percent'])
                        in_force.append(entry)
                        caps[c['id']] = cents(c['cap']) - used[c['id']] if c.get('cap') else None
                cost = cost_of.get(month, 0)
                lines, uncovered = split_month(cost, in_force, caps)
                got = {k: v for k, v in stored.items() if v}
                want = {k: v for k, v in lines.items() if v}
                if cents(item['cost']) != cost or got != want or cents(item['uncovered']) != uncovered:
                    sys.exit(f'ALLOCATION MISMATCH post {post} {month}: stored cost {item["cost"]} lines {got} '
                             f'uncovered {item["uncovered"]}; expected cost {cost} lines {want} '
                             f'uncovered {uncovered}; commitments {json.dumps(commitments)}')
            for key, amount in stored.items():
                used[key] = used.get(key, 0) + amount

    def check_ledger(self):
        api, token, employer = self.api, self.token, self.employer
        balances = api.all(f'/v1/ledger/balances?employer_id={employer}', token)
        assert sum(cents(b['debit']) for b in balances) == sum(cents(b['credit']) for b in balances), balances
        by_funder = api.all(f'/v1/ledger/balances?employer_id={employer}&group_by=funder', token)
        by_post = api.all(f'/v1/ledger/balances?employer_id={employer}&group_by=post', token)
        assert all(cents(b['balance']) >= 0 for b in by_funder + by_post if b['account'] == '4687'), by_post
        allocated = sum(cents(line['amount']) for post in self.posts
                        for item in api.all(f'/v1/posts/{post}/allocations', token) for line in item['lines'])
        assert allocated == -sum(cents(b['balance']) for b in balances if b['account'] == '74')
        recorded = sum(cents(c['amount']) for post in self.posts for c in api.all(f'/v1/posts/{post}/costs', token))
        assert recorded == sum(cents(b['balance']) for b in balances if b['account'] == '64')
        for funder in self.funders:
            status, statement = api.call('GET', f'/v1/funders/{funder}/statement?employer_id={employer}', token)
            assert status == 200, statement
            totals = statement['totals']
            receivable = sum(cents(b['balance']) for b in by_funder
                             if b['account'] == '441' and b.get('funder_id') == funder)
            assert receivable == cents(totals['called']) - cents(totals['paid']) - cents(totals['credit']), \
                (funder, receivable, totals)

    def step(self, rng, check_runs):
        api, token, employer = self.api, self.token, self.employer

        def amount(low, high):
            value = rng.randint(low, high)
            return f'{value // 100}.{value % 100:02d}'

        operation = rng.choice(['cost'] * 5 + ['reverse', 'commit', 'commit', 'terminate', 'run', 'run', 'run',
                                               'run_employer', 'call', 'cancel', 'pay', 'pay_named'])
        status = None
        if operation == 'cost':
            status, body = api.call('POST', f'/v1/posts/{rng.choice(self.posts)}/costs', token, {
                'month': rng.choice(MONTHS), 'category': 'salary', 'amount': amount(1, 500_000)})
            if status == 201:
                self.costs.append(body['id'])
        elif operation == 'reverse' and self.costs:
            status, _ = api.call('POST', f'/v1/costs/{rng.choice(self.costs)}/reverse', token, {'reason': 'model'})
        elif operation == 'commit':
            first, last = sorted(rng.sample(MONTHS, 2))
            body = {'funder_id': rng.choice(self.funders), 'post_id': rng.choice(self.posts),
                    'start_month': first, 'end_month': last, 'reference': 'convention'}
            if rng.random() < 0.4:
                body.update(basis='fixed', monthly_amount=amount(1, 300_000))
            elif rng.random() < 0.5:
                body.update(basis='share', percent=f'{rng.randint(0, 60)}.{rng.randint(1, 9999):04d}')
            else:
                body.update(basis='share', percent=str(rng.choice([10, 20, 25, 30, 33, 50])))
            if rng.random() < 0.4:
                body['cap'] = amount(100, 1_000_000)
            status, created = api.call('POST', '/v1/commitments', token, body)
            if status == 201:
                self.commitments.append(created['id'])
        elif operation == 'terminate' and self.commitments:
            status, _ = api.call('POST', f'/v1/commitments/{rng.choice(self.commitments)}/terminate', token,
                                 {'end_month': rng.choice(MONTHS)})
        elif operation == 'run':
            post, month = rng.choice(self.posts), rng.choice(MONTHS)
            status, _ = api.call('POST', '/v1/allocations/run', token, {'post_id': post, 'month': month})
            if status == 200 and check_runs:
                self.check_post(post, month)
        elif operation == 'run_employer':
            month = rng.choice(MONTHS)
            status, _ = api.call('POST', '/v1/allocations/run', token, {'employer_id': employer, 'month': month})
            if status == 200 and check_runs:
                for post in self.posts:
                    self.check_post(post, month)
        elif operation == 'call':
            first, last = sorted(rng.sample(MONTHS, 2))
            status, body = api.call('POST', '/v1/calls', token, {
                'employer_id': employer, 'funder_id': rng.choice(self.funders), 'from_month': first,
                'to_month': last, 'issued_on': '2026-11-02', 'due_on': '2026-12-31'})
            if status == 201:
                self.calls.append(body['id'])
        elif operation == 'cancel' and self.calls:
            status, _ = api.call('POST', f'/v1/calls/{rng.choice(self.calls)}/cancel', token)
        elif operation == 'pay':
            status, _ = api.call('POST', '/v1/payments', token, {
                'employer_id': employer, 'funder_id': rng.choice(self.funders), 'amount': amount(1, 800_000),
                'received_on': '2026-11-10', 'reference': 'transfer'})
        elif operation == 'pay_named' and self.calls:
            call_id = rng.choice(self.calls)
            _, call = api.call('GET', f'/v1/calls/{call_id}', token)
            status, _ = api.call('POST', '/v1/payments', token, {
                'employer_id': employer, 'funder_id': call['funder_id'], 'amount': amount(1, 800_000),
                'received_on': '2026-11-10', 'reference': 'named transfer',
                'applications': [{'call_id': call_id, 'amount': amount(1, 200_000)}]})
        with self.lock:
            self.stats[(operation, status)] = self.stats.get((operation, status), 0) + 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--base', default='http://127.0.0.1:8080')
    parser.add_argument('--secret', required=True)
    parser.add_argument('--bin', default='target/release/portage-ledger')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--steps', type=int, default=300)
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args()
    books = Books(Api(args.base, args.bin, args.secret))
    check_runs = args.threads == 1

    failures = []

    def work(worker):
        rng = random.Random(args.seed * 1000 + worker)
        try:
            for step in range(args.steps):
                books.step(rng, check_runs)
                if check_runs and step % 25 == 0:
                    books.check_ledger()
        except BaseException as failure:  # a thread's exit or assertion must fail the run
            failures.append(failure)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        sys.exit(f'seed {args.seed}: FAILED: {failures[0]!r}')
    books.check_ledger()
    print(f'seed {args.seed}: ok', dict(sorted(books.stats.items(), key=str)))


if __name__ == '__main__':
    main()
