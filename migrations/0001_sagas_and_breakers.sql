CREATE TABLE `circuit_breakers` (
	`name` text PRIMARY KEY NOT NULL,
	`status` text NOT NULL,
	`consecutive_failures` integer NOT NULL,
	`opened_at` integer,
	`last_reason` text,
	`version` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `saga_instances` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`saga` text NOT NULL,
	`instance_key` text NOT NULL,
	`status` text NOT NULL,
	`stage` text,
	`reason` text,
	`error` text,
	`version` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `saga_instances_by_status` ON `saga_instances` (`status`,`updated_at`);--> statement-breakpoint
CREATE INDEX `saga_instances_by_tenant` ON `saga_instances` (`tenant_id`,`status`);