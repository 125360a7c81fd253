CREATE TABLE `ended_dashboard_sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `ended_dashboard_sessions_by_expiry` ON `ended_dashboard_sessions` (`expires_at`);