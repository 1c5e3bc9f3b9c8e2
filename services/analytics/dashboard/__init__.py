"""The live dashboard analytics serves at ``/dashboard``: a campaign list and a campaign page
drawn from the same report as ``GET /v1/campaigns/{id}/report``, kept current over
server-sent events. Every script and style ships with the package; nothing is fetched from
the internet.
"""
