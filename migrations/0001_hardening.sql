CREATE TABLE `parked_facts` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`entity_type` text NOT NULL,
	`entity_id` text NOT NULL,
	`seq` integer NOT NULL,
	`event_type` text NOT NULL,
	`bytes` integer NOT NULL,
	`reason` text NOT NULL,
	`parked_at` integer NOT NULL,
	`acknowledged_at` integer
);
--> statement-breakpoint
CREATE INDEX `parked_facts_by_tenant` ON `parked_facts` (`tenant_id`,`parked_at`);--> statement-breakpoint
CREATE TABLE `saga_checkpoints` (
	`tenant_id` text NOT NULL,
	`entity_type` text NOT NULL,
	`entity_id` text NOT NULL,
	`seq` integer NOT NULL,
	`delivered_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `entity_type`, `entity_id`)
);
--> statement-breakpoint
ALTER TABLE `tenants` ADD `policy_version` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Entities that existed before saga checkpoints: their facts up to the newest seen were handed to
-- the sagas by the old consumer, so start there instead of re-reading every log from the start.
INSERT OR IGNORE INTO `saga_checkpoints` (`tenant_id`, `entity_type`, `entity_id`, `seq`, `delivered_at`)
SELECT `tenant_id`, `entity_type`, `entity_id`, `seq`, `recorded_at` FROM `entity_heads`;
