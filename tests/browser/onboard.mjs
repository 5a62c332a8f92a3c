// Drives the hosted onboarding flow in headless Chromium, as a person would:
//   1. open the onboarding link, 2. click "Connect with Instagram",
//   3. click "Allow" on Meta's dialog, 4. see the success page listing the account;
// then the popup variant: the tenant's page opens the flow in a popup and receives
// the result through postMessage. A screenshot of every page goes to ARTIFACTS_DIR.
//
// Input (environment): ONBOARDING_URL, EXPECT_ACCOUNT (text the success page must
// show), ARTIFACTS_DIR, CHROMIUM (default /usr/bin/chromium).
// Output: one JSON line on stdout with what was seen; exit status 1 on any failure.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const onboardingUrl = process.env.ONBOARDING_URL;
const expectAccount = process.env.EXPECT_ACCOUNT;
const artifacts = process.env.ARTIFACTS_DIR;
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
if (!onboardingUrl || !expectAccount || !artifacts) {
  console.error("ONBOARDING_URL, EXPECT_ACCOUNT and ARTIFACTS_DIR are required");
  process.exit(2);
}
mkdirSync(artifacts, { recursive: true });

const timeout = 20_000;
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
});
const seen = { pages: [], screenshots: [], consoleErrors: [] };
try {
  // A phone-sized viewport: the pages must read well there.
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on("console", (m) => {
    if (m.type() === "error") seen.consoleErrors.push({ text: m.text(), url: m.location().url });
  });
  const shot = async (p, name) => {
    const path = join(artifacts, name);
    await p.screenshot({ path, fullPage: true });
    seen.screenshots.push(path);
  };

  await page.goto(onboardingUrl);
  await page.getByRole("heading", { level: 1 }).waitFor();
  seen.pages.push({ step: "onboarding", title: await page.title() });
  await shot(page, "01-onboarding.png");

  // Keyboard reachability: the primary button is reachable with Tab.
  let focusedId = "";
  for (let i = 0; i < 10 && focusedId !== "connect-instagram"; i += 1) {
    await page.keyboard.press("Tab");
    focusedId = await page.evaluate(() => document.activeElement && document.activeElement.id);
  }
  seen.keyboardReachesConnect = focusedId === "connect-instagram";

  await page.getByRole("link", { name: "Connect with Instagram" }).click();
  await page.getByRole("button", { name: "Allow" }).waitFor();
  seen.pages.push({ step: "dialog", title: await page.title() });
  await shot(page, "02-meta-dialog.png");

  await page.getByRole("button", { name: "Allow" }).click();
  await page.getByRole("heading", { name: /^Connected to / }).waitFor();
  const listed = await page.locator("#connected-accounts").innerText();
  seen.pages.push({ step: "success", title: await page.title(), listed });
  await shot(page, "03-success.png");
  if (!listed.includes(expectAccount)) {
    throw new Error(`the success page does not list ${expectAccount}: ${listed}`);
  }

  // Popup mode, opened by a page of the allowed origin (the onboarding page itself).
  await page.goto(onboardingUrl);
  const message = page.evaluate(
    () =>
      new Promise((resolve) =>
        window.addEventListener("message", (e) => resolve({ origin: e.origin, data: e.data }), {
          once: true,
        }),
      ),
  );
  const startUrl = await page.getByRole("link", { name: "Connect with Instagram" }).getAttribute("href");
  const [popup] = await Promise.all([
    context.waitForEvent("page"),
    page.evaluate((url) => {
      window.open(`${url}&mode=popup`, "relay-connect", "width=480,height=720");
    }, startUrl),
  ]);
  popup.setDefaultTimeout(timeout);
  await popup.getByRole("button", { name: "Allow" }).click();
  const received = await message;
  seen.popupMessage = received;
  await shot(page, "04-opener-after-popup.png");
  if (received.data.status !== "connected" || received.data.type !== "relay.onboarding") {
    throw new Error(`unexpected popup message ${JSON.stringify(received)}`);
  }
  seen.ok = true;
} catch (error) {
  seen.ok = false;
  seen.error = String(error && error.stack ? error.stack : error);
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
process.exit(seen.ok ? 0 : 1);
