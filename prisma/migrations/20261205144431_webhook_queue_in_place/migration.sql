-- Webhook queue: attempts move into their delivery's row (one update records an attempt), and
-- the two queue indexes hold only what is still queued (undispatched events, pending deliveries).

-- AlterTable
ALTER TABLE "webhook_deliveries" ADD COLUMN     "attempts" JSONB NOT NULL DEFAULT '[]';

-- Carry every recorded attempt over, oldest first, in the shape the API shows (the newest 100
-- per delivery, the most the row keeps from now on).
UPDATE "webhook_deliveries" AS d
SET "attempts" = a.list
FROM (
  SELECT ranked.delivery_id,
         jsonb_agg(jsonb_build_object(
           'id', ranked.id,
           'attemptedAt', to_char(ranked.attempted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'statusCode', ranked.status_code,
           'durationMs', ranked.duration_ms,
           'error', ranked.error,
           'responseBody', ranked.response_body
         ) ORDER BY ranked.attempted_at, ranked.id) AS list
  FROM (
    SELECT a.*, row_number() OVER (PARTITION BY a.delivery_id ORDER BY a.attempted_at DESC, a.id DESC) AS newest
    FROM "webhook_attempts" AS a
  ) AS ranked
  WHERE ranked.newest <= 100
  GROUP BY ranked.delivery_id
) AS a
WHERE d.id = a.delivery_id;

-- DropForeignKey
ALTER TABLE "webhook_attempts" DROP CONSTRAINT "webhook_attempts_delivery_id_fkey";

-- DropTable
DROP TABLE "webhook_attempts";

-- DropIndex
DROP INDEX "events_dispatched_at_created_at_idx";

-- DropIndex
DROP INDEX "webhook_deliveries_status_next_attempt_at_idx";

-- CreateIndex
CREATE INDEX "events_undispatched_idx" ON "events"("created_at", "id") WHERE (dispatched_at IS NULL);

-- CreateIndex
CREATE INDEX "webhook_deliveries_due_idx" ON "webhook_deliveries"("next_attempt_at") WHERE (status = 'pending');
