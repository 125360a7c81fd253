CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`key_hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer,
	`last_used_at` integer,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `api_keys_by_tenant` ON `api_keys` (`tenant_id`);--> statement-breakpoint
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
CREATE TABLE `dead_letters` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`projection` text,
	`entity_type` text NOT NULL,
	`entity_id` text NOT NULL,
	`seq` integer NOT NULL,
	`body` text NOT NULL,
	`error` text NOT NULL,
	`attempts` integer NOT NULL,
	`created_at` integer NOT NULL,
	`replayed_at` integer
);
--> statement-breakpoint
CREATE INDEX `dead_letters_by_tenant` ON `dead_letters` (`tenant_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `entity_heads` (
	`tenant_id` text NOT NULL,
	`entity_type` text NOT NULL,
	`entity_id` text NOT NULL,
	`seq` integer NOT NULL,
	`recorded_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `entity_type`, `entity_id`)
);
--> statement-breakpoint
CREATE TABLE `inventory_view` (
	`tenant_id` text NOT NULL,
	`generation` integer NOT NULL,
	`sku` text NOT NULL,
	`on_hand` integer DEFAULT 0 NOT NULL,
	`reserved` integer DEFAULT 0 NOT NULL,
	`available` integer DEFAULT 0 NOT NULL,
	`shipped` integer DEFAULT 0 NOT NULL,
	`version` integer DEFAULT 0 NOT NULL,
	`updated_at` text NOT NULL,
	PRIMARY KEY(`tenant_id`, `generation`, `sku`)
);
--> statement-breakpoint
CREATE TABLE `orders_view` (
	`tenant_id` text NOT NULL,
	`generation` integer NOT NULL,
	`order_id` text NOT NULL,
	`customer_id` text NOT NULL,
	`status` text NOT NULL,
	`total` real NOT NULL,
	`item_count` integer NOT NULL,
	`reason` text,
	`version` integer DEFAULT 0 NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	PRIMARY KEY(`tenant_id`, `generation`, `order_id`)
);
--> statement-breakpoint
CREATE INDEX `orders_by_status` ON `orders_view` (`tenant_id`,`generation`,`status`);--> statement-breakpoint
CREATE INDEX `orders_by_customer` ON `orders_view` (`tenant_id`,`generation`,`customer_id`);--> statement-breakpoint
CREATE TABLE `projection_checkpoints` (
	`projection` text NOT NULL,
	`generation` integer NOT NULL,
	`tenant_id` text NOT NULL,
	`entity_type` text NOT NULL,
	`entity_id` text NOT NULL,
	`seq` integer NOT NULL,
	`recorded_at` integer NOT NULL,
	`applied_at` integer NOT NULL,
	PRIMARY KEY(`projection`, `generation`, `tenant_id`, `entity_type`, `entity_id`)
);
--> statement-breakpoint
CREATE INDEX `checkpoints_by_tenant` ON `projection_checkpoints` (`projection`,`tenant_id`,`generation`);--> statement-breakpoint
CREATE TABLE `projection_generations` (
	`projection` text NOT NULL,
	`tenant_id` text NOT NULL,
	`active` integer NOT NULL,
	`building` integer,
	`rebuild_started_at` integer,
	`rebuild_completed_at` integer,
	PRIMARY KEY(`projection`, `tenant_id`)
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
CREATE INDEX `saga_instances_by_tenant` ON `saga_instances` (`tenant_id`,`status`);--> statement-breakpoint
CREATE TABLE `tenant_metrics` (
	`tenant_id` text NOT NULL,
	`minute` integer NOT NULL,
	`requests` integer DEFAULT 0 NOT NULL,
	`commands` integer DEFAULT 0 NOT NULL,
	`facts_recorded` integer DEFAULT 0 NOT NULL,
	`facts_applied` integer DEFAULT 0 NOT NULL,
	`rejections` integer DEFAULT 0 NOT NULL,
	`errors` integer DEFAULT 0 NOT NULL,
	`shed` integer DEFAULT 0 NOT NULL,
	`queue_lag_ms_sum` integer DEFAULT 0 NOT NULL,
	`queue_lag_ms_max` integer DEFAULT 0 NOT NULL,
	`lat_le_5` integer DEFAULT 0 NOT NULL,
	`lat_le_10` integer DEFAULT 0 NOT NULL,
	`lat_le_25` integer DEFAULT 0 NOT NULL,
	`lat_le_50` integer DEFAULT 0 NOT NULL,
	`lat_le_100` integer DEFAULT 0 NOT NULL,
	`lat_le_250` integer DEFAULT 0 NOT NULL,
	`lat_le_500` integer DEFAULT 0 NOT NULL,
	`lat_le_1000` integer DEFAULT 0 NOT NULL,
	`lat_le_inf` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`tenant_id`, `minute`)
);
--> statement-breakpoint
CREATE TABLE `tenants` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`status` text DEFAULT 'active' NOT NULL,
	`created_at` integer NOT NULL,
	`rate_limit_rps` real,
	`rate_limit_burst` integer,
	`cors_origins` text DEFAULT '[]' NOT NULL
);
