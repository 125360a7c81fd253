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
CREATE INDEX `parked_facts_by_tenant` ON `parked_facts` (`tenant_id`,`parked_at`);