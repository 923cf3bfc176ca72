"""Live aggregates of one event, answered from the raw tables (copies never counted): sales, attendance,
revenue, social activity."""
