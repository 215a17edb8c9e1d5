#!/usr/bin/env python3
"""The page in a real browser: Debian's chromium, headless, on `serve --demo`.

    python3 tools/browser_check.py [path/to/portage-ledger]

For each role it opens the sign-in link, lets the page run, reads the DOM it built and checks
that the figures shown equal the API's answers for that token (amounts compared with any of the
spaces Intl.NumberFormat('fr-FR') writes taken as one), that the funder's page names no other
funder, that an expired token returns to sign-in with a message, and that no page logs a
console error. It saves a screenshot of each main page under target/.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BINARY = sys.argv[1] if len(sys.argv) > 1 else "target/debug/portage-ledger"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def api(base, token, path):
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def browse(url, screenshot=None):
    """The DOM after the page ran, and the console errors chromium logged."""
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--virtual-time-budget=10000", "--enable-logging=stderr", "--v=0",
             "--window-size=1280,1800"]
    if screenshot:
        subprocess.run(flags + [f"--screenshot={screenshot}", url], capture_output=True, timeout=90)
    done = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True, timeout=90)
    errors = [line for line in done.stderr.splitlines()
              if "CONSOLE" in line and ("Uncaught" in line or "Error" in line)]
    return done.stdout, errors


def testid(dom, name):
    match = re.search(rf'data-testid="{re.escape(name)}"[^>]*>([^<]*)<', dom)
    assert match, f"no {name} on the page"
    return normal(match.group(1))


def normal(text):
    """Spaces as Intl writes them (U+00A0, U+202F, &nbsp;) taken as one."""
    return re.sub(r"[\u00a0\u202f ]|&nbsp;", " ", text).strip()


def euros(amount):
    """The API's "1234.56" as fr-FR writes it, spaces normalised: "1 234,56 €"."""
    value = float(amount)
    sign = "-" if value < 0 else ""
    whole, cents = f"{abs(value):.2f}".split(".")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return f"{sign}{' '.join(groups)},{cents} €"


def main():
    os.makedirs("target", exist_ok=True)
    work = tempfile.mkdtemp()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PORTAGE_DATABASE_URL=f"sqlite://{work}/demo.db",
               PORTAGE_BIND=f"127.0.0.1:{port}", PORTAGE_LOG="warn")
    server = subprocess.Popen([BINARY, "serve", "--demo"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        lines = []
        deadline = time.time() + 30
        while time.time() < deadline:
            line = server.stdout.readline()
            lines.append(line)
            if sum("# page for the" in l for l in lines) == 4:
                break
        tokens = {m.group(1).lower(): m.group(2) for m in
                  (re.match(r"export PORTAGE_TOKEN_(\w+)=(\S+)", l) for l in lines) if m}
        links = {m.group(1): m.group(2) for m in
                 (re.match(r"# page for the (\w+): (\S+)", l) for l in lines) if m}
        for _ in range(50):
            try:
                urllib.request.urlopen(base + "/healthz")
                break
            except OSError:
                time.sleep(0.2)
        failures = []

        # The funder: its figures, its employers, and no other funder's name.
        dom, errors = browse(links["funder"], "target/app-funder.png")
        failures += [f"funder page console: {e}" for e in errors]
        funder_id = re.search(r"PORTAGE_FUNDER_ID=(\S+)", "".join(lines)).group(1)
        statement = api(base, tokens["funder"], f"/v1/funders/{funder_id}/statement")
        for field in ["allocated", "called", "paid", "outstanding", "credit"]:
            shown, wanted = testid(dom, field), euros(statement["totals"][field])
            if shown != wanted:
                failures.append(f"funder {field}: page {shown!r}, API {wanted!r}")
        funders = api(base, tokens["admin"], "/v1/funders?limit=1000")["items"]
        own = next(f["name"] for f in funders if f["id"] == funder_id)
        for other in funders:
            if other["id"] != funder_id and other["name"] in dom and other["name"] not in own:
                failures.append(f"the funder's page names another funder: {other['name']}")
        for call in api(base, tokens["funder"], "/v1/calls?limit=1000")["items"]:
            if call["number"] not in dom:
                failures.append(f"the funder's page lacks its call {call['number']}")
            if f'aria-label="Appel {call["number"]} (PDF)"' not in dom:
                failures.append(f"the funder's page offers no PDF of {call['number']}")

        # The employer: its posts and their budgets.
        dom, errors = browse(links["employer"], "target/app-employer.png")
        failures += [f"employer page console: {e}" for e in errors]
        text = normal(dom)
        for post in api(base, tokens["employer"], "/v1/posts?limit=1000")["items"]:
            if post["title"] not in dom or euros(post["monthly_budget"]) not in text:
                failures.append(f"the employer's page lacks {post['title']} at {post['monthly_budget']}")

        # The mission: the region against its target.
        dom, errors = browse(links["mission"], "target/app-mission.png")
        failures += [f"mission page console: {e}" for e in errors]
        overview = api(base, tokens["mission"], "/v1/reports/overview")
        wanted = f"{overview['totals']['posts']} / {overview['target']['posts_target']}"
        if testid(dom, "posts") != wanted:
            failures.append(f"mission posts: page {testid(dom, 'posts')!r}, API {wanted!r}")
        if testid(dom, "cost") != euros(overview["totals"]["monthly_cost"]):
            failures.append("mission monthly cost differs from the API's")

        # An expired (here: refused) token returns to sign-in with a message.
        refused = links["funder"].split("#token=")[0] + "#token=eyJhbGciOiJIUzI1NiJ9.e30.bad"
        dom, _ = browse(refused)
        message = re.search(r'id="sign-in-message"[^>]*>([^<]*)<', dom)
        if not message or "Connectez-vous de nouveau" not in message.group(1):
            failures.append(f"a refused token does not return to sign-in: {message and message.group(1)}")
        if re.search(r'<section id="sign-in"[^>]*hidden', dom):
            failures.append("the sign-in form stays hidden after a refused token")

        if failures:
            print("\n".join(failures))
            sys.exit(1)
        print("browser check passed: funder, employer and mission pages; refused token; "
              "screenshots in target/app-*.png")
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
