import { newId } from "../../shared/ids.ts";
import type { AppRecord, AppsRepository } from "./apps.repository.ts";

export async function createApp(repo: AppsRepository, input: { name: string; settings?: Record<string, unknown> }): Promise<AppRecord> {
  const name = input.name.trim();
  if (!name || name.length > 128) throw new RangeError("app name must be 1 to 128 characters");
  return repo.insert({ id: newId("app"), name, settings: input.settings ?? {} });
}

/** The app as `GET /api/v1/app` shows it (API.md §1). */
export function publicAppView(app: AppRecord) {
  const settings = app.settings && typeof app.settings === "object" && !Array.isArray(app.settings) ? (app.settings as Record<string, unknown>) : {};
  return { appId: app.id, name: app.name, settings, createdAt: app.createdAt.toISOString() };
}
