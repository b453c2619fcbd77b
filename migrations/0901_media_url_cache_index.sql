-- Images stored by the URL previewer, oldest first, for their expiry (src/media/preview/previewer.ts).
CREATE INDEX media_local_url_cache ON media_local (created_ts) WHERE url_cache IS NOT NULL;
