DROP TABLE post_risks;
