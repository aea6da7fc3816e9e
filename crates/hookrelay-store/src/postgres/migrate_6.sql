-- Version 6: custom header values leave delivery history. Attempts
-- recorded before now kept every request header as sent, so the values of
-- an endpoint's custom headers (often the receiver's credentials) were in
-- history in plaintext; from now on they are recorded as "***" (names
-- kept). Here the attempts of endpoints that have custom headers get the
-- same treatment, by the names the endpoint has now (a header removed from
-- an endpoint since is not known any more and stays as it was). The values
-- themselves are still plaintext in `endpoints` at this point: the first
-- start with an encryption key seals them.
UPDATE attempts a SET request_headers = (
    SELECT COALESCE(json_agg(
        CASE WHEN lower(p.value ->> 0) IN (
                 SELECT lower(k) FROM json_object_keys((e.advanced_options::json) -> 'headers') k)
             THEN json_build_array(p.value ->> 0, '***')
             ELSE p.value END
        ORDER BY p.ord), '[]'::json)::text
    FROM json_array_elements(a.request_headers::json) WITH ORDINALITY p(value, ord))
FROM deliveries d JOIN endpoints e ON e.id = d.endpoint_id
WHERE d.id = a.delivery_id
  AND json_typeof((e.advanced_options::json) -> 'headers') = 'object';
