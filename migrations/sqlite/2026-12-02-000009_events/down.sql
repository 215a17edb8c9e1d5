DROP TABLE event_funders;
DROP TABLE events;
