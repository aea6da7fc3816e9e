-- Version 7: custom header values leave delivery history. Attempts
-- recorded before now kept every request header as sent, so the values of
-- an endpoint's custom headers (often the receiver's credentials) were in
-- history in plaintext; from now on they are recorded as "***" (names
-- kept). Here the attempts of endpoints that have custom headers get the
-- same treatment, by the names the endpoint has now (a header removed from
-- an endpoint since is not known any more and stays as it was). The values
-- themselves are still plaintext in `endpoints` at this point: the first
-- start with an encryption key seals them.
UPDATE attempts SET request_headers = (
    SELECT json_group_array(
        CASE WHEN lower(json_extract(p.value, '$[0]')) IN (
                 SELECT lower(h.key)
                 FROM deliveries d, endpoints e, json_each(e.advanced_options, '$.headers') h
                 WHERE d.id = attempts.delivery_id AND e.id = d.endpoint_id)
             THEN json_array(json_extract(p.value, '$[0]'), '***')
             ELSE json(p.value) END
        ORDER BY p.key)
    FROM json_each(attempts.request_headers) p)
WHERE delivery_id IN (
    SELECT d.id FROM endpoints e JOIN deliveries d ON d.endpoint_id = e.id
    WHERE json_type(e.advanced_options, '$.headers') = 'object');
