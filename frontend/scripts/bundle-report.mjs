// After `vite build`: the JavaScript a first visit loads (the entry script and the chunks
// it imports statically), gzipped. The budget is 200 KB.
import { readdirSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join } from "node:path";

const dist = new URL("../dist/", import.meta.url).pathname;
const html = readFileSync(join(dist, "index.html"), "utf8");
const first = new Set([...html.matchAll(/(?:src|href)="(?:\.?\/)?(assets\/[^"]+\.js)"/g)].map((m) => m[1]));
const seen = new Set();
const queue = [...first];
let total = 0;
const rows = [];
while (queue.length) {
  const file = queue.shift();
  if (seen.has(file)) continue;
  seen.add(file);
  const code = readFileSync(join(dist, file));
  const gz = gzipSync(code, { level: 9 }).length;
  total += gz;
  rows.push([file, code.length, gz]);
  // static imports only: lazy chunks (import("...")) are not part of the first load
  for (const m of code.toString().matchAll(/(?:^|[;\n}])\s*import\s*(?:[\w${},*\s]+from\s*)?["']\.\/([^"']+\.js)["']/g)) {
    queue.push("assets/" + m[1]);
  }
}
for (const [f, raw, gz] of rows) console.log(`  ${f}  ${(raw / 1024).toFixed(1)} KB  (${(gz / 1024).toFixed(1)} KB gzip)`);
// everything else is a lazy chunk (gallery, lightbox, providers page, socket.io-client);
// the budget is checked on all of it together, an upper bound of what a first visit loads
let all = 0;
for (const f of readdirSync(join(dist, "assets")).filter((f) => f.endsWith(".js"))) {
  all += gzipSync(readFileSync(join(dist, "assets", f)), { level: 9 }).length;
}
const kb = total / 1024;
const allKb = all / 1024;
console.log(`first-load JavaScript (entry + static imports): ${kb.toFixed(1)} KB gzipped`);
console.log(`all JavaScript including lazy chunks: ${allKb.toFixed(1)} KB gzipped (budget 200 KB) ${allKb <= 200 ? "OK" : "OVER BUDGET"}`);
if (allKb > 200) process.exit(1);
