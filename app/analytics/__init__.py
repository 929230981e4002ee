"""Recovery analytics: the figures, funnel and cohorts the console's dashboard and
analytics page draw, and `GET /api/v1/analytics/summary`. Reads other domains' tables;
changes nothing."""
