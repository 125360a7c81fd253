ALTER TABLE `tenants` ADD `rate_limit_rps` real;--> statement-breakpoint
ALTER TABLE `tenants` ADD `rate_limit_burst` integer;--> statement-breakpoint
ALTER TABLE `tenants` ADD `cors_origins` text DEFAULT '[]' NOT NULL;