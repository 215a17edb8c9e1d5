#!/usr/bin/env bash
# The exports checked by the tools that will read them, on the demo's books: the DGFiP's FEC
# tester (with its balance views), `hledger check --strict`, `ledger --strict --pedantic`,
# `bean-check`, and the balances of hledger and bean-query against /v1/ledger/balances.
#
#   tools/books_check.sh [path/to/portage-ledger]      (default target/debug/portage-ledger)
#
# Installs what it needs when missing: Debian's hledger, ledger, poppler-utils and the Perl
# modules the FEC tester lists; beancount and beanquery from PyPI in a virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-target/debug/portage-ledger}
tester=../shared/tools/fec-tester/run_dgfip.sh
work=$(mktemp -d)
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

need=()
for tool in hledger ledger pdftotext; do command -v "$tool" >/dev/null || need+=("$tool"); done
perl -MDBD::SQLite -MDBD::Pg -MPDF::API2 -MPDF::Table -MXML::Simple -MNet::LDAP -e 1 2>/dev/null \
  || need+=(perl-modules)
if ((${#need[@]})); then
  echo "installing: ${need[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    hledger ledger poppler-utils libdbd-sqlite3-perl libdbd-pg-perl libpdf-api2-perl \
    libpdf-table-perl libxml-simple-perl libnet-ldap-perl) >/dev/null
fi
venv=${BEANCOUNT_VENV:-${TMPDIR:-/tmp}/portage-beancount-venv}
if [ ! -x "$venv/bin/bean-query" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q beancount beanquery
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PORTAGE_DATABASE_URL="sqlite://$work/demo.db" PORTAGE_BIND="127.0.0.1:$port" PORTAGE_LOG=warn \
  "$binary" serve --demo >"$work/demo.out" 2>"$work/demo.err" &
server=$!
for _ in $(seq 1 50); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
  sleep 0.2
done
eval "$(grep '^export' "$work/demo.out")"
get() { curl -sf -H "Authorization: Bearer $PORTAGE_TOKEN_EMPLOYER" "http://127.0.0.1:$port$1"; }

echo "== FEC: the DGFiP's tester, with its balance views"
(cd "$work" && curl -sf -OJ -H "Authorization: Bearer $PORTAGE_TOKEN_EMPLOYER" \
  "http://127.0.0.1:$port/v1/exports/fec?year=2026")
fec=$(ls "$work"/*FEC*.txt)
psql -h 127.0.0.1 -U postgres -qtc "SELECT 1 FROM pg_database WHERE datname = 'dgfip_test'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE dgfip_test"
if ! bash "$tester" --sql "$fec" >"$work/fec.log" 2>&1; then
  cat "$work/fec.log"
  echo "the FEC tester refused $fec" >&2
  exit 1
fi
grep -E "VERDICT|entries flagged" "$work/fec.log"

echo "== journal: hledger and ledger-cli, strict"
get /v1/exports/journal >"$work/books.journal"
hledger -f "$work/books.journal" check --strict
ledger -f "$work/books.journal" --strict --pedantic bal >"$work/ledger.out" 2>"$work/ledger.err"
if [ -s "$work/ledger.err" ]; then cat "$work/ledger.err"; echo "ledger warned" >&2; exit 1; fi
for report in bs is; do
  hledger -f "$work/books.journal" "$report" >"$work/$report.out"
done
grep -q "441 Subventions à recevoir" "$work/bs.out" && grep -q "42 Personnel" "$work/bs.out"
grep -q "74 Subventions d'exploitation" "$work/is.out" && grep -q "64 Charges de personnel" "$work/is.out"
hledger -f "$work/books.journal" bal --depth 1 -O csv >"$work/hledger.csv"

echo "== beancount: bean-check and bean-query"
get /v1/exports/beancount >"$work/books.beancount"
"$venv/bin/bean-check" "$work/books.beancount"
"$venv/bin/bean-query" -f csv "$work/books.beancount" \
  "SELECT root(account, 2) AS account, sum(number) AS total GROUP BY account" >"$work/bean.csv"

echo "== balances: the tools against /v1/ledger/balances"
get "/v1/ledger/balances?limit=1000" >"$work/api.json"
python3 - "$work" <<'PY'
import csv, json, sys
from decimal import Decimal
work = sys.argv[1]
api = {row["account"]: Decimal(row["balance"]) for row in json.load(open(f"{work}/api.json"))["items"]}
hledger = {}
for row in csv.DictReader(open(f"{work}/hledger.csv")):
    name = row["account"]
    if name and name != "total":
        hledger[name.split(" ")[0]] = Decimal(row["balance"].replace(" EUR", "").replace("EUR", "").strip() or "0")
bean = {}
for row in csv.DictReader(open(f"{work}/bean.csv")):
    root = row["account"].split(":")[1]  # PCG441-Subventions-...
    code = root[3:].split("-")[0]
    bean[code] = bean.get(code, Decimal(0)) + Decimal(row["total"].strip() or "0")
nonzero = lambda d: {k: v for k, v in d.items() if v != 0}
print("api    ", dict(sorted(nonzero(api).items())))
print("hledger", dict(sorted(nonzero(hledger).items())))
print("bean   ", dict(sorted(nonzero(bean).items())))
assert nonzero(api) == nonzero(hledger), "hledger's balances differ from the service's"
assert nonzero(api) == nonzero(bean), "bean-query's balances differ from the service's"
PY
echo "books check passed"
