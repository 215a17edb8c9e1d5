DROP TABLE payment_applications;
DROP TABLE payments;
DROP TABLE call_lines;
DROP TABLE calls;
DROP TABLE number_sequences;
DROP TABLE closed_periods;
