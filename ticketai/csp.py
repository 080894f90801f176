"""Content-Security-Policy on every response (SECURITY.md, finding 10).

Scripts, styles, fonts, images and requests come from our own origin only: no inline script, no
inline style, no eval, no plugins, no framing, and forms post only to ourselves. The templates
carry no inline script or style (tests/test_content_security_policy.py checks them), Swagger UI is
served as the split view (its set-up script a file of its own), and images may also be ``data:``
URIs, which Swagger UI's stylesheet uses for its icons.
"""

POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", POLICY)
        return response
