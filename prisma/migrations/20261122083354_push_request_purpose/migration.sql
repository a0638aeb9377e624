-- AlterTable
ALTER TABLE "push_requests" ADD COLUMN     "purpose" TEXT NOT NULL DEFAULT 'login';
