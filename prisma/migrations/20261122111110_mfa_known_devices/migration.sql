-- CreateTable
CREATE TABLE "mfa_known_devices" (
    "app_id" TEXT NOT NULL,
    "external_user_id" TEXT NOT NULL,
    "device_id" TEXT NOT NULL,
    "first_seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_seen_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "mfa_known_devices_pkey" PRIMARY KEY ("app_id","external_user_id","device_id")
);

-- CreateIndex
CREATE INDEX "verifications_reference_idx" ON "verifications"("reference");

-- AddForeignKey
ALTER TABLE "mfa_known_devices" ADD CONSTRAINT "mfa_known_devices_app_id_fkey" FOREIGN KEY ("app_id") REFERENCES "apps"("id") ON DELETE CASCADE ON UPDATE CASCADE;
