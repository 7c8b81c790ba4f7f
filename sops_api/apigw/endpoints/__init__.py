"""The /apigw/ endpoints, one module per domain: parse, call one service or selector, render."""
