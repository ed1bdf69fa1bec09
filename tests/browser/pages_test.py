#!/usr/bin/python3
"""ctest `browser_pages` (label browser): the classroom pages in a real browser, Debian's
chromium driven headless through chromedriver by Debian's python3-selenium (all three installed
by dev.sh). It writes the three pages with vmmu, then:

  walk page   steps with the button and the keyboard, checks the highlighted reference and the
              detail text against the page's embedded vmmu.demo.walk/1 data, switches walk (key 3);
  quiz page   every answer hidden at first, reveals one, checks a cold-walk count against the
              formula (n+1)(m+1)-1 and a TLB question's hits against an LRU simulation written
              here, steps a sequence one line at a time;
  exits page  filters the timeline to one reason, checks the rows and the count against the
              embedded data, switches to slat by key, selects an exit with j;

and on every page: no console error, no network request (Chrome's own network log lists only
the page's file:// URL; the page's resource timing entries are empty; its CSP is default-src
'none'), a screenshot at 1024x768 into the work folder.

Missing chromium, chromedriver or selenium is a failure, not a skip: ./dev.sh installs them,
so a machine that runs the suite has them; the message names the packages.

Usage: pages_test.py VMMU_BINARY WORK_DIR [--screenshots DIR]
  --screenshots DIR also copies the screenshots there (docs/images: the README's pictures).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time

PACKAGES = "chromium chromium-driver python3-selenium"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
except ImportError:
    fail("python3-selenium is not installed; run ./dev.sh build (or apt-get install " +
         PACKAGES + ")")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def browser():
    for path, pkg in ((CHROMIUM, "chromium"), (DRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            fail(f"{path} is missing; run ./dev.sh build (or apt-get install {pkg})")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1024,768", "--hide-scrollbars", "--no-first-run",
              "--disable-background-networking", "--disable-component-update",
              "--disable-default-apps", "--disable-sync"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


def vmmu(binary, *args):
    r = subprocess.run([binary, *args], capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"vmmu {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return r.stdout


def open_page(drv, path):
    drv.get_log("performance")  # drop what an earlier page logged
    drv.get_log("browser")
    # The viewport a projector at 1024x768 gives.
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                        {"width": 1024, "height": 768, "deviceScaleFactor": 1, "mobile": False})
    drv.get("file://" + os.path.abspath(path))


def check_offline(drv, path):
    """No console error, and no request but the page's own file."""
    errors = [e for e in drv.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    if errors:
        fail(f"{path}: console errors: {errors}")
    own = "file://" + os.path.abspath(path)
    for entry in drv.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            url = msg["params"]["request"]["url"]
            if url != own:
                fail(f"{path}: the page requested {url}")
    if drv.execute_script("return performance.getEntriesByType('resource').length") != 0:
        fail(f"{path}: resource timing lists requests")
    csp = drv.execute_script(
        "const m = document.querySelector('meta[http-equiv=Content-Security-Policy]');"
        "return m ? m.content : ''")
    if "default-src 'none'" not in csp:
        fail(f"{path}: no content-security policy forbidding requests ({csp!r})")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if re.search(r"\bsrc\s*=|https?://|<link\b|@import", text):
        fail(f"{path}: the page refers to something outside itself")


def shot(drv, work, name, shots):
    png = os.path.join(work, name)
    drv.save_screenshot(png)
    if os.path.getsize(png) < 5000:
        fail(f"{png}: a near-empty screenshot")
    shots.append(png)


def embedded(drv, script_id):
    return drv.execute_script(
        f"return JSON.parse(document.getElementById('{script_id}').textContent)")


def walk_page(drv, path, work, shots):
    open_page(drv, path)
    data = embedded(drv, "walk")
    slat = data.get("slat")
    if not slat:
        fail("walk page: no slat walk embedded")
    nxt = drv.find_element(By.ID, "next")
    for _ in range(5):
        nxt.click()
    pos = drv.find_element(By.ID, "pos").text
    if pos != f"step 5 of {len(slat['cold_grid'])}":
        fail(f"walk page: position after 5 clicks is {pos!r}")
    now = drv.find_elements(By.CSS_SELECTOR, "td.now")
    five = next(c for c in slat["cold_grid"] if c["order"] == 5)
    if len(now) != 1 or now[0].get_attribute("id") != "cell-5" or five["hpa"] not in now[0].text:
        fail(f"walk page: highlighted after 5 steps: {[c.text for c in now]}")
    detail = drv.find_element(By.ID, "detail").text
    if "Reference 5" not in detail or five["hpa"] not in detail:
        fail(f"walk page: detail after 5 steps: {detail!r}")
    body = drv.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_RIGHT)
    body.send_keys(Keys.ARROW_RIGHT)
    if drv.find_element(By.CSS_SELECTOR, "td.now").get_attribute("id") != "cell-7":
        fail("walk page: two right arrows did not reach reference 7")
    body.send_keys(Keys.ARROW_LEFT)
    if drv.find_element(By.CSS_SELECTOR, "td.now").get_attribute("id") != "cell-6":
        fail("walk page: the left arrow did not go back to reference 6")
    if drv.find_elements(By.ID, "cell-20") and "20" != drv.find_element(By.ID, "cell-20").text:
        fail("walk page: a reference not yet taken shows more than its number")
    shot(drv, work, "walk-page.png", shots)
    body.send_keys("3")  # the warm walk
    four = next(c for c in slat["warm_grid"] if c["order"] == 4)
    for _ in range(4):
        nxt.click()
    want = "read again" if four["warm"] == "ref" else "SAVED by the " + four["warm"]
    detail = drv.find_element(By.ID, "detail").text
    if want not in detail:
        fail(f"walk page: the warm walk's reference 4 should say {want!r}: {detail!r}")
    if drv.find_element(By.ID, "variant").get_attribute("value") != "2":
        fail("walk page: key 3 did not select the warm walk")
    check_offline(drv, path)


def lru_hits(question):
    """The TLB question's hits by a simulation written here: sets of LRU lists."""
    m = re.search(r"A TLB of (\d+) entries, (\d+)-way", question)
    entries, ways = int(m.group(1)), int(m.group(2))
    sets = entries // ways
    lru = {s: [] for s in range(sets)}
    hits = []
    steps = re.findall(r"^\s*(\d+)\. (access|invlpg) (0x[0-9a-f]+)", question, re.M)
    for n, op, addr in steps:
        page = int(addr, 16) >> 12
        lst = lru[page % sets]
        if op == "invlpg":
            if page in lst:
                lst.remove(page)
            continue
        if page in lst:
            hits.append(int(n))
            lst.remove(page)
        elif len(lst) == ways:
            lst.pop(0)
        lst.append(page)
    return hits, len([s for s in steps if s[1] == "access"])


def quiz_page(drv, path, work, shots):
    open_page(drv, path)
    secs = drv.find_elements(By.CSS_SELECTOR, "section.q")
    if not secs:
        fail("quiz page: no questions")
    for s in secs:
        if s.find_element(By.CLASS_NAME, "answer").is_displayed():
            fail("quiz page: an answer is visible before it is revealed")
    kinds = {s.get_attribute("data-kind"): s for s in secs}
    for k in ("walk_refs", "shadow_exits", "tlb_hits"):
        if k not in kinds:
            fail(f"quiz page: no {k} question (kinds: {sorted(kinds)})")
    # A cold-walk count against the formula.
    s = kinds["walk_refs"]
    s.find_element(By.CLASS_NAME, "reveal").click()
    ans = s.find_element(By.CLASS_NAME, "answer")
    if not ans.is_displayed():
        fail("quiz page: show answer did not reveal it")
    if s.find_element(By.CLASS_NAME, "reveal").get_attribute("aria-expanded") != "true":
        fail("quiz page: the reveal button does not say it is expanded")
    text = s.find_element(By.CLASS_NAME, "text").text
    m = re.search(r"with (\w+) pages in 4-level guest tables.*with (\w+) EPT pages in (\d)-level",
                  text, re.S)
    size = {"4K": 0, "2M": 1, "1G": 2}
    n = 4 - size[m.group(1)]
    e = int(m.group(3)) - size[m.group(2)]
    want = (n + 1) * (e + 1) - 1
    got = s.find_element(By.CLASS_NAME, "short").text
    if got != str(want):
        fail(f"quiz page: the cold walk's answer is {got}, the formula gives {want}: {text}")
    # A TLB question's hits against the simulation above.
    s = kinds["tlb_hits"]
    hits, accesses = lru_hits(s.find_element(By.CLASS_NAME, "text").text)
    s.find_element(By.CLASS_NAME, "reveal").click()
    got = s.find_element(By.CLASS_NAME, "short").text
    want = f"{len(hits)} of {accesses} hit" + (": " + ", ".join(map(str, hits)) if hits else "")
    if got != want:
        fail(f"quiz page: the TLB answer is {got!r}, the simulation here gives {want!r}")
    # A sequence revealed one step at a time.
    s = kinds["shadow_exits"]
    s.find_element(By.CLASS_NAME, "step").click()
    items = s.find_elements(By.CSS_SELECTOR, "ol.steps li")
    shown = [li for li in items if li.is_displayed()]
    if len(shown) != 1 or not shown[0].text.startswith("read gVA"):
        fail(f"quiz page: next step showed {[li.text for li in shown]}")
    if not re.search(r": (exit: pf_hidden / fill|no exit)\.", shown[0].text):
        fail(f"quiz page: the first touch's answer: {shown[0].text!r}")
    if s.find_element(By.CLASS_NAME, "summary").is_displayed():
        fail("quiz page: stepping the first step gave away the whole answer")
    drv.execute_script("arguments[0].scrollIntoView()", s)
    shot(drv, work, "quiz-page.png", shots)
    drv.find_element(By.ID, "all").click()
    if not all(x.find_element(By.CLASS_NAME, "summary").is_displayed() for x in secs):
        fail("quiz page: show every answer left some hidden")
    check_offline(drv, path)


def exits_page(drv, path, work, shots):
    open_page(drv, path)
    data = embedded(drv, "exits")
    shadow, slat = data["shadow"], data["slat"]
    rows = drv.find_elements(By.CSS_SELECTOR, "#timeline tr[data-reason]")
    if len(rows) != len(shadow["exits"]):
        fail(f"exits page: {len(rows)} rows for {len(shadow['exits'])} shadow exits")
    drv.find_element(By.ID, "none").click()
    if drv.find_elements(By.CSS_SELECTOR, "#timeline tr[data-reason]"):
        fail("exits page: 'no reason' left rows")
    drv.find_element(By.ID, "f-pt_write").click()
    rows = drv.find_elements(By.CSS_SELECTOR, "#timeline tr[data-reason]")
    want = shadow["window_totals"].get("pt_write", 0)
    if want == 0 or len(rows) != want:
        fail(f"exits page: pt_write filter shows {len(rows)} rows, the window has {want}")
    if any(r.get_attribute("data-reason") != "pt_write" for r in rows):
        fail("exits page: the pt_write filter shows other reasons")
    first = next(e for e in shadow["exits"] if e["reason"] == "pt_write")
    cells = rows[0].find_elements(By.TAG_NAME, "td")
    if (cells[4].text != first["instruction"] or cells[3].text != first["function"]
            or cells[1].text != str(first["instructions"])):
        fail(f"exits page: first pt_write row {[c.text for c in cells]} vs {first}")
    count = drv.find_element(By.ID, "count").text
    if count != f"showing {want} of {len(shadow['exits'])} shadow exits":
        fail(f"exits page: count reads {count!r}")
    body = drv.find_element(By.TAG_NAME, "body")
    body.send_keys("j")
    sel = drv.find_elements(By.CSS_SELECTOR, "#timeline tr.sel")
    detail = drv.find_element(By.ID, "detail").text
    if (len(sel) != 1 or first["instruction"] not in detail or first["action"] not in detail
            or f"after {first['instructions']} guest instructions" not in detail):
        fail(f"exits page: j selected {[r.text for r in sel]}, detail {detail!r}")
    if len(drv.find_elements(By.CSS_SELECTOR, "#strip span.m.cur")) != 1:
        fail("exits page: the selected exit is not marked on the strip")
    drv.execute_script("window.scrollTo(0, 0)")
    shot(drv, work, "exits-page.png", shots)
    drv.find_element(By.ID, "all").click()
    body.send_keys("n")  # slat, the same window
    rows = drv.find_elements(By.CSS_SELECTOR, "#timeline tr[data-reason]")
    if len(rows) != len(slat["exits"]):
        fail(f"exits page: slat shows {len(rows)} rows for {len(slat['exits'])} exits")
    if any(r.get_attribute("data-reason") == "pt_write" for r in rows):
        fail("exits page: slat's window lists a pt_write exit")
    # One window of one guest execution: in the order the exits were taken, guest time grows,
    # and slat's exits fall inside shadow's window.
    both = sorted(shadow["exits"] + slat["exits"], key=lambda e: e["order"])
    times = [e["instructions"] for e in both]
    if times != sorted(times):
        fail("exits page: guest time does not grow with the exits' order")
    if not data["window_is_whole_run"] and slat["exits"] and \
            slat["exits"][-1]["instructions"] > shadow["exits"][-1]["instructions"]:
        fail("exits page: a slat exit after the window's end")
    total = drv.find_element(By.ID, "total-pt_write").find_elements(By.TAG_NAME, "td")
    if total[1].text != str(want) or total[2].text != "0":
        fail(f"exits page: pt_write totals {[c.text for c in total]}")
    check_offline(drv, path)


def main():
    if len(sys.argv) < 3:
        fail("usage: pages_test.py VMMU_BINARY WORK_DIR [--screenshots DIR]")
    binary, work = sys.argv[1], sys.argv[2]
    copy_to = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--screenshots" else None
    os.makedirs(work, exist_ok=True)
    start = time.time()
    pages = {n: os.path.join(work, n + ".html") for n in ("walk", "quiz", "exits")}
    vmmu(binary, "demo", "walk", "--html", pages["walk"])
    vmmu(binary, "quiz", "--seed", "4", "--count", "6", "--html", pages["quiz"])
    vmmu(binary, "demo", "exits", "--html", pages["exits"], "--from", "roi", "--limit", "120")
    shots = []
    drv = browser()
    try:
        walk_page(drv, pages["walk"], work, shots)
        quiz_page(drv, pages["quiz"], work, shots)
        exits_page(drv, pages["exits"], work, shots)
    finally:
        drv.quit()
    if copy_to:
        os.makedirs(copy_to, exist_ok=True)
        for s in shots:
            shutil.copy(s, copy_to)
    print(f"browser pages: ok ({len(shots)} screenshots in {copy_to or work}, "
          f"{time.time() - start:.1f} s)")


if __name__ == "__main__":
    main()
