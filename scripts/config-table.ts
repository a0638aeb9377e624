// Prints the README configuration table from the config schema: npx tsx scripts/config-table.ts
import { describeConfig } from "../src/config.ts";
console.log("| Variable | Default | What it does |\n| --- | --- | --- |");
for (const r of describeConfig()) console.log(`| \`${r.name}\` | ${r.default ? "`" + r.default + "`" : ""} | ${r.description} |`);
