-- A browser-like GET from a public client behind the (trusted) loopback proxy, with an API key.
wrk.method = "GET"
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
wrk.headers["Accept"] = "text/html,application/xhtml+xml"
wrk.headers["Accept-Language"] = "en-GB,en;q=0.9"
wrk.headers["Accept-Encoding"] = "gzip, deflate"
wrk.headers["X-Forwarded-For"] = "81.2.69.160"
wrk.headers["X-API-Key"] = "tsk_bench_key_0123456789"
