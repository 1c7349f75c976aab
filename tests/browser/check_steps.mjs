// The step-through debugger in Debian's chromium through playwright-core, with
// every other host blocked.  Reads a JSON job from argv[2]:
//   {base, file_base, chromium, user_data_dir, path, step, shots: [path, path]}
// and prints one JSON report: the first paint (ms since navigation, as the page
// records it), the step shown after the slider moved to `step` (its frames with
// their locals, the arrows drawn), the step after ArrowLeft and the address,
// the step shown when `#step=N` is loaded directly (over http and file://),
// console errors and blocked requests.
import { openOffline } from "./offline.mjs";
import { readFileSync } from "node:fs";

const job = JSON.parse(readFileSync(process.argv[2], "utf8"));
const report = { paints: [], at: null, back: null, direct: [], blocked: [], errors: [] };
const { base, context, page } = await openOffline(job, { width: 1600, height: 1000 }, report);

async function ready() {
  await page.waitForSelector("#lsa-steps[data-ready='1'][data-code='1']", { timeout: 15000 });
  await page.waitForTimeout(150);  // the arrows are drawn on the next frame
}

async function shown() {
  return await page.evaluate(() => ({
    count: document.querySelector(".lsa-count").textContent,
    hash: location.hash,
    what: document.querySelector(".lsa-what").textContent,
    frames: [...document.querySelectorAll(".lsa-frame")].map((f) => ({
      fn: f.getAttribute("data-fn"),
      locals: Object.fromEntries([...f.querySelectorAll("tr[data-local]")].map(
        (tr) => [tr.getAttribute("data-local"), tr.querySelector(".lsa-val").textContent])),
    })),
    arrows: [...document.querySelectorAll("svg.lsa-arrows path[data-from]")].map(
      (p) => ({ from: p.getAttribute("data-from"), to: p.getAttribute("data-to"),
                d: p.getAttribute("d") })),
    current: (document.querySelector(".lsa-code span.cl.st-cur") || {}).textContent || "",
    ran: document.querySelectorAll(".lsa-code span.cl.st-ran").length,
    objects: [...document.querySelectorAll(".lsa-objs > .lsa-col > .lsa-obj")].map((o) => o.getAttribute("data-label")),
    changed: document.querySelectorAll(".lsa-fields tr.lsa-chg").length,
    fields: Object.fromEntries([...document.querySelectorAll(".lsa-fields tr[data-field]")].map(
      (tr) => [tr.closest(".lsa-obj").getAttribute("data-label") + "." + tr.getAttribute("data-field"),
               tr.querySelector(".lsa-val").textContent])),
  }));
}

async function open(url) {
  await page.goto(url, { waitUntil: "load" });
  await ready();
  const t = await page.evaluate(() => {
    const box = document.getElementById("lsa-steps"), nav = performance.getEntriesByType("navigation")[0];
    const code = performance.getEntriesByType("resource").find((r) => r.name.endsWith(".code.js"));
    return { ms: +box.getAttribute("data-paint-ms"), data: +box.getAttribute("data-data-ms"),
             code: code ? Math.round(code.responseEnd) : -1,
             dom: Math.round(nav.domContentLoadedEventEnd), load: Math.round(nav.loadEventEnd) };
  });
  report.paints.push({ url, ...t });
}

try {
  const url = new URL(job.path, base).href;
  for (let i = 0; i < 3; i++) await open(url);  // the first load warms the server's cache
  await page.locator(".lsa-slider").evaluate((s, v) => {
    s.value = String(v);
    s.dispatchEvent(new Event("input", { bubbles: true }));
  }, job.step);
  await page.waitForTimeout(200);
  report.at = await shown();
  if (job.shots) await page.screenshot({ path: job.shots[0], fullPage: false });
  await page.locator("h1").click();  // the keys work wherever the focus is on the page
  await page.keyboard.press("ArrowLeft");
  await page.waitForTimeout(200);
  report.back = await shown();
  for (const root of [base, new URL(job.file_base)]) {
    const target = new URL(job.path + (root.protocol === "file:" ? "index.html" : ""), root).href
      + `#step=${job.direct}`;
    await page.goto("about:blank");
    await page.goto(target, { waitUntil: "load" });
    await ready();
    report.direct.push({ root: root.protocol, ...(await shown()) });
  }
  if (job.shots) await page.screenshot({ path: job.shots[1], fullPage: false });
} catch (e) {
  report.errors.push(String(e && e.stack || e));
} finally {
  await context.close();
}
process.stdout.write(JSON.stringify(report));
