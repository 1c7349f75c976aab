// Drives Debian's chromium through playwright-core over a built site served on
// 127.0.0.1, with every other host blocked.  Reads a JSON job from argv[2]:
//   {base, pages: [{path, shot?}], search, shots_dir}
// and prints one JSON report on stdout: per page its title, the first line
// number of each code block, the nodes of each inline SVG diagram, the console
// errors, plus the search results and any blocked request.
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";

const job = JSON.parse(readFileSync(process.argv[2], "utf8"));
const base = new URL(job.base);
const userDir = job.user_data_dir;

const context = await chromium.launchPersistentContext(userDir, {
  executablePath: job.chromium || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 1000 },
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    `--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE ${base.hostname}`,
  ],
});

const report = { pages: [], search: [], blocked: [], errors: [] };
context.on("request", (req) => {
  const u = new URL(req.url());
  if (!["data:", "blob:"].includes(u.protocol) && u.host !== base.host) report.blocked.push(req.url());
});
await context.route("**/*", (route) => {
  const u = new URL(route.request().url());
  return u.host === base.host ? route.continue() : route.abort("blockedbyclient");
});

async function visit(page, item) {
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  const resp = await page.goto(new URL(item.path, base).href, { waitUntil: "load" });
  await page.waitForTimeout(300);
  const data = await page.evaluate(() => ({
    title: (document.querySelector("article h1")?.textContent || "").replace("¶", "").trim(),
    firstLines: [...document.querySelectorAll("article .highlighttable")].map((t) => {
      const n = t.querySelector(".linenos .normal");
      return n ? parseInt(n.textContent, 10) : null;
    }),
    diagrams: [...document.querySelectorAll("article svg.diagram")].map((s) => ({
      cls: s.getAttribute("class"),
      nodes: s.querySelectorAll("g.node").length,
      width: s.getBoundingClientRect().width,
    })),
    scripts: document.querySelectorAll("article script").length,
    svgLinks: [...new Set([...document.querySelectorAll("article svg a")].map(
      (a) => new URL(a.getAttribute("href"), location.href).href))],
    highlighted: document.querySelectorAll("article .hll").length,
  }));
  data.brokenSvgLinks = [];
  for (const url of data.svgLinks) {
    const r = await page.request.get(url);
    if (r.status() !== 200) data.brokenSvgLinks.push(`${url} ${r.status()}`);
  }
  if (item.shot) {
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    await page.screenshot({ path: item.shot, fullPage: true,
                            clip: { x: 0, y: 0, width: 1280, height: Math.min(height, 3600) } });
  }
  return { path: item.path, status: resp ? resp.status() : 0, errors, ...data };
}

try {
  const page = await context.newPage();
  for (const item of job.pages) {
    page.removeAllListeners("console");
    page.removeAllListeners("pageerror");
    report.pages.push(await visit(page, item));
  }
  // search: Material's offline index (search/search_index.json + a web worker)
  await page.goto(new URL(job.pages[0].path, base).href, { waitUntil: "load" });
  const opener = page.locator("label.md-header__button[for=__search]");
  if (await opener.isVisible()) await opener.click();
  await page.locator("input.md-search__input").click();
  await page.keyboard.type(job.search, { delay: 30 });
  await page.waitForSelector(".md-search-result__item", { timeout: 15000 });
  report.search = await page.$$eval(".md-search-result__item",
    (els) => els.slice(0, 20).map((e) => e.textContent.replace(/\s+/g, " ").trim()));
  if (job.search_shot) await page.screenshot({ path: job.search_shot });
} catch (e) {
  report.errors.push(String(e && e.stack || e));
} finally {
  await context.close();
}
process.stdout.write(JSON.stringify(report));
