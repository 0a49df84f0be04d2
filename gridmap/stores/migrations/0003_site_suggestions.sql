-- GridMap schema 0003: suggestions written on candidate sites by `gridmap site`: the rank
-- (1 = best, null when not suggested), the marginal gain of the site when the suggestions are
-- added in rank order, and which model with which parameters suggested it, when.

ALTER TABLE sites
    ADD COLUMN rank bigint CONSTRAINT sites_rank_min CHECK (rank >= 1),
    ADD COLUMN gain double precision,
    ADD COLUMN suggested_by text;

CREATE INDEX sites_suggested ON sites (kind, rank) WHERE rank IS NOT NULL;
