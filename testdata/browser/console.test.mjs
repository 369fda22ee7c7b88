// Drives the gateway's web console (/console) in headless Chromium.
//
//   node console.test.mjs BASE_URL SCREENSHOT_DIR
//
// BASE_URL is the gateway's http://host:port, in front of the real Node
// upstream of testdata/upstream (its echo, ask and reserved-name behaviour is
// what the steps check). Screenshots go to SCREENSHOT_DIR. Exits 0 when every
// step passed, 1 otherwise; run by cmd/gateway/console_browser_test.go.
//
// Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM); playwright-core
// never downloads a browser of its own.

import { chromium } from "playwright-core";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

const [baseURL, shotDir] = process.argv.slice(2);
if (!baseURL || !shotDir) {
  console.error("usage: node console.test.mjs BASE_URL SCREENSHOT_DIR");
  process.exit(2);
}

/** How long one step may wait for the page; generous for a busy 2-core box. */
const STEP_TIMEOUT = 15_000;
/** Chromium flags for this closed, sandboxed machine. */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const problems = []; // console errors and page errors, reported at the end

function assert(cond, message) {
  if (!cond) throw new Error("assertion failed: " + message);
}

async function step(name, fn) {
  process.stdout.write("step: " + name + " ... ");
  await fn();
  process.stdout.write("ok\n");
}

const userDataDir = await mkdtemp(path.join(tmpdir(), "console-test-chromium-"));
let context;
let exitCode = 0;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1100, height: 900 },
    timeout: 60_000,
  });
  context.setDefaultTimeout(STEP_TIMEOUT);
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push("console error: " + msg.text());
  });
  page.on("pageerror", (err) => problems.push("page error: " + err.message));

  const $ = (id) => page.getByTestId(id);
  const log = $("log");
  const entries = log.locator(":scope > *");
  const entry = (dir, text) => log.locator(`:scope > [data-dir="${dir}"]`, { hasText: text });
  const send = async (event, data, wantAck) => {
    await $("event").fill(event);
    await $("data").fill(data);
    await $("want-ack").setChecked(wantAck);
    await $("send").click();
  };

  const consoleURL = new URL("/console", baseURL).href;
  const wantWS = new URL("/ws", baseURL.replace(/^http/, "ws")).href;

  await step("load /console", async () => {
    const resp = await page.goto(consoleURL);
    assert(resp && resp.status() === 200, "status " + (resp && resp.status()));
    const csp = resp.headers()["content-security-policy"] || "";
    assert(csp.includes("default-src 'self'"), "CSP header: " + csp);
  });

  await step("URL field prefilled with the first route", async () => {
    const v = await $("url").inputValue();
    assert(v === wantWS, `url field ${JSON.stringify(v)}, want ${JSON.stringify(wantWS)}`);
    const s = (await $("status").textContent()).trim();
    assert(s === "disconnected", "initial status " + JSON.stringify(s));
  });

  await step("every control has an accessible name", async () => {
    for (const id of ["url", "connect", "event", "data", "want-ack", "send"]) {
      const name = await $(id).evaluate((el) => {
        if (el.labels && el.labels.length) return el.labels[0].textContent.trim();
        return (el.getAttribute("aria-label") || el.textContent || "").trim();
      });
      assert(name !== "", id + " has no label");
    }
  });

  await step("connect", async () => {
    await $("connect").click();
    await page.waitForFunction(() => document.querySelector('[data-testid="status"]').textContent.trim() === "connected");
  });

  await step("send echo {\"a\":1} and see the echo", async () => {
    await send("echo", '{"a":1}', false);
    await entry("out", '{"event":"echo","data":{"a":1}}').waitFor();
    await entry("in", '{"event":"echo","data":{"a":1}}').waitFor();
  });

  await step("send with the keyboard (Enter in the data field)", async () => {
    await $("event").fill("echo");
    await $("data").fill('{"k":"enter"}');
    await $("data").press("Enter");
    await entry("in", '{"event":"echo","data":{"k":"enter"}}').waitFor();
  });

  await step("send with want-ack and see the paired ack", async () => {
    await send("echo", '{"b":2}', true);
    await entry("out", '{"event":"echo","data":{"b":2},"id":1}').waitFor();
    const ack = entry("in", '{"ack":1,"data":{"b":2}}');
    await ack.waitFor();
    await ack.filter({ hasText: "round trip" }).waitFor();
    await entry("out", "acked in").waitFor();
    await $("want-ack").setChecked(false);
  });

  await step("answer a server-requested ack", async () => {
    await send("ask", '"question"', false);
    const question = entry("in", '"event":"question"');
    await question.waitFor();
    const text = await question.locator(".frame").textContent();
    const q = JSON.parse(text);
    assert(q.event === "question" && Number.isInteger(q.id), "question frame " + text);
    await $("data").fill('{"answer":42}');
    await question.getByRole("button", { name: /reply to ack request/i }).click();
    await entry("out", `{"ack":${q.id},"data":{"answer":42}}`).waitFor();
    await entry("in", '{"event":"answer","data":{"answer":42}}').waitFor();
  });

  await step("invalid JSON data is refused with a message, nothing sent", async () => {
    const before = await entries.count();
    await send("echo", "{bad json", false);
    const msg = (await page.locator("#data-error").textContent()).trim();
    assert(/not valid JSON/i.test(msg), "validation message " + JSON.stringify(msg));
    assert((await $("data").getAttribute("aria-invalid")) === "true", "data field not marked invalid");
    // The page logs an outgoing frame synchronously in the click handler.
    assert((await entries.count()) === before, "a frame was logged after invalid data");
    // The next valid send goes out, and the invalid text never did.
    await send("echo", '{"after":"invalid"}', false);
    await entry("in", '{"event":"echo","data":{"after":"invalid"}}').waitFor();
    assert((await entry("out", "bad json").count()) === 0, "invalid text was sent");
    assert((await page.locator("#data-error").textContent()).trim() === "", "message not cleared");
  });

  await step("reserved event name gets a highlighted error frame", async () => {
    await send("disconnect", "", false);
    const err = entry("in", '"code":"reserved_event"');
    await err.waitFor();
    const cls = await err.getAttribute("class");
    assert(/\berror\b/.test(cls), "error frame not highlighted: class " + cls);
    await err.filter({ hasText: "error reserved_event" }).waitFor();
    await err.screenshot({ path: path.join(shotDir, "console-error-frame.png") });
    const s = (await $("status").textContent()).trim();
    assert(s === "connected", "status after error frame " + JSON.stringify(s));
  });

  await step("filter by event name", async () => {
    await page.locator("#filter").fill("answer");
    const visible = await log.locator(":scope > :not([hidden])").count();
    const answers = await log.locator(':scope > [data-event="answer"]').count();
    assert(visible === answers && answers >= 1, `visible ${visible}, answer frames ${answers}`);
    await page.locator("#filter").fill("");
    const all = await log.locator(":scope > :not([hidden])").count();
    assert(all === (await entries.count()), "filter not cleared");
  });

  await step("pause holds frames, resume shows them", async () => {
    await page.locator("#pause").click();
    const before = await entries.count();
    await send("echo", '{"paused":true}', false);
    await page.getByText(/2 frame\(s\) held/).waitFor();
    assert((await entries.count()) === before, "frames shown while paused");
    await page.locator("#pause").click();
    await entry("in", '{"event":"echo","data":{"paused":true}}').waitFor();
  });

  await step("screenshot (desktop)", async () => {
    await page.screenshot({ path: path.join(shotDir, "console-desktop.png"), fullPage: true });
  });

  await step("readable on a phone-sized screen", async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 0, "horizontal overflow of " + overflow + "px at 375px wide");
    await page.screenshot({ path: path.join(shotDir, "console-phone.png"), fullPage: true });
    await page.setViewportSize({ width: 1100, height: 900 });
  });

  await step("clear empties the log", async () => {
    await page.locator("#clear").click();
    assert((await entries.count()) === 0, "log not empty after clear");
  });

  await step("disconnect", async () => {
    await $("connect").click();
    await page.waitForFunction(() => document.querySelector('[data-testid="status"]').textContent.trim() === "disconnected");
    await page.getByText(/1000 \(normal closure\)/).waitFor();
  });

  await step("no console errors", async () => {
    assert(problems.length === 0, problems.join("\n"));
  });
  console.log("console test: all steps passed");
} catch (err) {
  process.stdout.write("FAILED\n");
  console.error(err && err.stack ? err.stack : String(err));
  if (problems.length) console.error("page problems:\n" + problems.join("\n"));
  if (context) {
    const page = context.pages()[0];
    if (page) {
      await page.screenshot({ path: path.join(shotDir, "console-failure.png"), fullPage: true }).catch(() => {});
    }
  }
  exitCode = 1;
} finally {
  if (context) await context.close().catch(() => {});
  await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
}
process.exit(exitCode);
