DROP INDEX `saga_instances_by_status`;--> statement-breakpoint
DROP INDEX `saga_instances_by_tenant`;--> statement-breakpoint
CREATE INDEX `saga_instances_by_created` ON `saga_instances` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `saga_instances_by_tenant_created` ON `saga_instances` (`tenant_id`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `saga_instances_by_status` ON `saga_instances` (`status`,`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `saga_instances_by_tenant` ON `saga_instances` (`tenant_id`,`status`,`created_at`,`id`);