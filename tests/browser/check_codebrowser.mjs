// The code browser in Debian's chromium through playwright-core, with every other
// host blocked.  Reads a JSON job from argv[2]:
//   {base, file_base, chromium, user_data_dir, hovers: [{path, selector}],
//    symbol: {path, id}, searches: [query], shot_dir}
// and prints one JSON report: for each hover (over http and over file://) the
// card's text, for the symbol page its text, for each search the first
// results, the console errors and the blocked requests.
import { openOffline } from "./offline.mjs";
import { readFileSync } from "node:fs";

const job = JSON.parse(readFileSync(process.argv[2], "utf8"));
const report = { hovers: [], symbol: null, searches: [], blocked: [], errors: [] };
const { base, context, page } = await openOffline(job, { width: 1280, height: 1000 }, report);

async function hover(root, item, shot) {
  await page.goto(new URL(item.path, root).href, { waitUntil: "load" });
  const el = page.locator(item.selector).first();
  await el.scrollIntoViewIfNeeded();
  await el.hover();
  const card = page.locator("#lsa-card");
  await card.waitFor({ state: "visible", timeout: 10000 });
  const text = (await card.innerText()).replace(/\s+/g, " ").trim();
  if (shot) {
    const box = await el.boundingBox();
    await page.screenshot({ path: shot, clip: { x: 0, y: Math.max(0, box.y - 250), width: 1280, height: 750 } });
  }
  const href = await el.evaluate((e) => e.getAttribute("href") || "");
  await page.keyboard.press("Escape");
  const hidden = await card.isHidden();
  return { root: root.protocol, path: item.path, selector: item.selector, text, href, hidden };
}

try {
  for (const [i, item] of job.hovers.entries()) {
    report.hovers.push(await hover(base, item, i === 0 ? `${job.shot_dir}/card.png` : ""));
    report.hovers.push(await hover(new URL(job.file_base), item, ""));
  }
  await page.goto(new URL(`${job.symbol.path}#${encodeURIComponent(job.symbol.id)}`, base).href,
                  { waitUntil: "load" });
  await page.waitForFunction(() => document.querySelector("#lsa-symbol .lsa-head"), null,
                             { timeout: 10000 });
  report.symbol = (await page.locator("#lsa-symbol").innerText()).replace(/\s+/g, " ");
  for (const q of job.searches) {
    await page.goto(new URL("generated/tour/socket-and-inet/", base).href, { waitUntil: "load" });
    const opener = page.locator("label.md-header__button[for=__search]");
    if (await opener.isVisible()) await opener.click();
    await page.locator("input.md-search__input").fill(q);
    await page.waitForSelector(".md-search-result__item", { timeout: 15000 });
    await page.waitForTimeout(400);
    const first = await page.$$eval(".md-search-result__item > a",
      (els) => els.slice(0, 3).map((e) => new URL(e.href).pathname));
    report.searches.push({ query: q, first });
  }
} catch (e) {
  report.errors.push(String(e && e.stack || e));
} finally {
  await context.close();
}
process.stdout.write(JSON.stringify(report));
