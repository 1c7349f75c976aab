// What the browser checks share: Debian's chromium through playwright-core with
// every host but the local server blocked (file:, data: and blob: allowed), and
// a page whose console errors and failures are collected.
import { chromium } from "playwright-core";

export async function openOffline(job, viewport, report) {
  const base = new URL(job.base);
  const context = await chromium.launchPersistentContext(job.user_data_dir, {
    executablePath: job.chromium || "/usr/bin/chromium",
    headless: true,
    viewport,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      `--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE ${base.hostname}`,
    ],
  });
  const local = (u) => u.protocol === "file:" || u.protocol === "data:" || u.protocol === "blob:"
    || u.host === base.host;
  context.on("request", (req) => {
    const u = new URL(req.url());
    if (!local(u)) report.blocked.push(req.url());
  });
  await context.route("**/*", (route) => {
    const u = new URL(route.request().url());
    return local(u) ? route.continue() : route.abort("blockedbyclient");
  });
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") report.errors.push(`${page.url()}: ${m.text()}`); });
  page.on("pageerror", (e) => report.errors.push(`${page.url()}: ${e}`));
  return { base, context, page };
}
